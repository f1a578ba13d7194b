package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/typhonbench/typhon"
)

// sendHeader sends a request whose headers may repeat and returns the status
// and body.
func sendHeader(t *testing.T, method, url string, hdr http.Header, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		if k == "Host" {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestCrossSiteVariants: requests a browser sends from another site without a
// preflight, and Host and query variants, beyond TestCrossSiteRequests. GET /ask
// makes the server ask an LLM server, so a cross-site page may not send it
// either (an <img> needs no preflight); a Referer names the origin when a
// browser sends no Origin; a repeated header counts with every value.
func TestCrossSiteVariants(t *testing.T) {
	t.Parallel()
	mgr := &typhon.Manager{Runner: typhon.Runner{DataDir: t.TempDir()}} // no Run loop: jobs stay pending
	ts := httptest.NewServer(newAPI(mgr, "", slog.New(slog.DiscardHandler)))
	defer ts.Close()
	const evil = "https://evil.example"
	tests := []struct {
		name, method, path string
		hdr                http.Header
		body               string
		want               int
	}{
		{"ask from an img on another site", "GET", "/ask?q=x", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"no-cors"}}, "", 403},
		{"ask with a foreign origin", "GET", "/ask", http.Header{"Origin": {evil}}, "", 403},
		{"ask with a foreign referer", "GET", "/ask", http.Header{"Referer": {evil + "/page"}}, "", 403},
		{"ask from the same origin", "GET", "/ask", http.Header{"Sec-Fetch-Site": {"same-origin"}, "Referer": {ts.URL + "/"}}, "", 404},
		{"submit with a foreign referer", "POST", "/jobs/run", http.Header{"Referer": {evil + "/page"}}, "", 403},
		{"submit text/plain json from a site", "POST", "/jobs/run", http.Header{"Content-Type": {"text/plain"}, "Referer": {evil}}, `{"mode":"quick"}`, 403},
		{"submit with own and foreign origin", "POST", "/jobs/run", http.Header{"Origin": {ts.URL, evil}}, "", 403},
		{"submit with two fetch sites", "POST", "/jobs/run", http.Header{"Sec-Fetch-Site": {"same-origin", "cross-site"}}, "", 403},
		{"cancel with a foreign referer", "DELETE", "/jobs/x", http.Header{"Referer": {"http://127.0.0.1:1/"}}, "", 403},
		{"name in brackets", "GET", "/jobs", http.Header{"Host": {"[localhost]"}}, "", 403},
		{"name with port in brackets", "GET", "/jobs", http.Header{"Host": {"[evil.example]:80"}}, "", 403},
		{"semicolon in query", "GET", "/jobs?limit=1;offset=2", nil, "", 400},
		{"bad escape in query", "POST", "/jobs/run?mode=quick&x=%zz", nil, "", 400},
		{"submit with own referer", "POST", "/jobs/run", http.Header{"Referer": {ts.URL + "/jobs"}}, "", 202},
		{"ipv6 loopback without port", "GET", "/health", http.Header{"Host": {"[::1]"}}, "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := sendHeader(t, tc.method, ts.URL+tc.path, tc.hdr, tc.body)
			if code != tc.want {
				t.Errorf("%s %s %v: status %d (%s), want %d", tc.method, tc.path, tc.hdr, code, body, tc.want)
			}
			if code >= 400 && !strings.Contains(body, `"detail"`) {
				t.Errorf("%s %s: error answer %q names no reason", tc.method, tc.path, body)
			}
		})
	}
	if jobs, _ := mgr.Page(0, 0); len(jobs) != 1 {
		t.Errorf("%d jobs queued, want the 1 allowed", len(jobs))
	}
}
