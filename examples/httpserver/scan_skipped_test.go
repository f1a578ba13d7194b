package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/detect"
)

// TestScanSkipped: POST /scan answered only the servers found; an address
// configured (or answering) but not identified was left out without a word.
// It is now in "skipped" with the reason.
func TestScanSkipped(t *testing.T) {
	t.Parallel()
	catchAll := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"m","owned_by":"vllm"}],"version":"1"}`))
	}))
	t.Cleanup(catchAll.Close)
	mgr := &typhon.Manager{Runner: typhon.Runner{DataDir: t.TempDir(),
		Detect: detect.Options{NoDefaults: true, URLs: []string{catchAll.URL}}}}
	base := startAPI(t, mgr, "")
	var scan struct {
		Servers []detect.Server `json:"servers"`
		Skipped []detect.Skip   `json:"skipped"`
	}
	if code := doJSON(t, "POST", base+"/scan", &scan); code != http.StatusOK {
		t.Fatalf("POST /scan: %d", code)
	}
	if len(scan.Servers) != 0 || len(scan.Skipped) != 1 || scan.Skipped[0].URL != catchAll.URL ||
		!strings.Contains(scan.Skipped[0].Reason, "answers every path alike") {
		t.Fatalf("scan = %+v; want no server and %s skipped as a catch-all", scan, catchAll.URL)
	}
}
