package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestScanSaysWhy: `typhon scan -url U` of an address that answers but is not
// an LLM server printed "no LLM server found" and nothing else (the reason only
// with -v, among every other candidate's debug lines). It now prints one line
// per such address on stderr, with the reason.
func TestScanSaysWhy(t *testing.T) {
	t.Parallel()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	code, _, stderr, err := runCLI(t, "scan", "-url", proxy.URL+"/v1")
	if code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	want := "not an LLM server: " + proxy.URL + ": every path answered HTTP 502 Bad Gateway"
	if !strings.Contains(stderr, want) {
		t.Fatalf("stderr:\n%s\nwant a line holding %q", stderr, want)
	}
}
