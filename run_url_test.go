package typhon_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/detect"
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

// TestRunNoServerSaysWhatAnswered: a run that detects (no URL) and finds only
// an address answering something else failed with "no LLM server detected"
// alone; it now names what answered and why it is not an LLM server.
func TestRunNoServerSaysWhatAnswered(t *testing.T) {
	t.Parallel()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(app.Close)
	port := app.Listener.Addr().(*net.TCPAddr).Port
	r := typhon.Runner{DataDir: t.TempDir(), GPU: fakeGPU(), Plan: fakePlan(1),
		Detect: detect.Options{NoDefaults: true, Ports: []int{port}}}
	_, err := r.Run(t.Context(), nil)
	if !errors.Is(err, typhon.ErrNoServer) || !strings.Contains(err.Error(), app.URL+": answers every path alike") {
		t.Fatalf("Run error %v; want ErrNoServer naming %s as answering every path alike", err, app.URL)
	}
}
