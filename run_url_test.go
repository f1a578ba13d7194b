package typhon_test

import (
	"strings"
	"testing"

	"github.com/typhonbench/typhon"
)

// TestRunURLPasswordNotShown: Runner.URL with a user and password failed with
// the URL quoted whole in the run's error (the job's error, the record); the
// password is now hidden.
func TestRunURLPasswordNotShown(t *testing.T) {
	t.Parallel()
	r := typhon.Runner{URL: "http://user:s3cret@127.0.0.1:1", DataDir: t.TempDir(), GPU: fakeGPU(), Plan: fakePlan(1)}
	res, err := r.Run(t.Context(), nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Run error %v; want one without the password", err)
	}
	if res != nil && strings.Contains(res.Error, "s3cret") {
		t.Fatalf("Result.Error %q holds the password", res.Error)
	}
}
