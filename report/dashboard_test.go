package report

import (
	"bytes"
	"os"
	"testing"

	"github.com/typhonbench/typhon/schema"
)

func dashboard(t *testing.T, runs ...*schema.Result) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Dashboard(&buf, runs...); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestDashboardWrite(t *testing.T) {
	if d := os.Getenv("TYPHON_DASH_OUT"); d != "" {
		os.WriteFile(d+"/full.html", []byte(dashboard(t, healthyResult())), 0o644)
		os.WriteFile(d+"/troubled.html", []byte(dashboard(t, troubledResult())), 0o644)
		os.WriteFile(d+"/multi.html", []byte(dashboard(t, fullResult(), healthyResult())), 0o644)
	}
}
