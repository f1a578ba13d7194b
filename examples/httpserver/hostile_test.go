package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine/enginetest"
)

// sendHdr sends a request with the given headers (one value each) and returns
// the status and body.
func sendHdr(t *testing.T, method, url string, hdr map[string]string) (int, string) {
	t.Helper()
	h := http.Header{}
	for k, v := range hdr {
		h.Set(k, v)
	}
	return sendHeader(t, method, url, h, "")
}

// TestCrossSiteRequests (issue 14, defect 2): without a token, a foreign Host
// (DNS rebinding) is refused on every path, and so is a state-changing request
// from another origin; the server's own origin and plain clients still work.
func TestCrossSiteRequests(t *testing.T) {
	t.Parallel()
	mgr := &typhon.Manager{Runner: typhon.Runner{DataDir: t.TempDir()}} // no Run loop: jobs stay pending
	ts := httptest.NewServer(newAPI(mgr, "", slog.New(slog.DiscardHandler)))
	defer ts.Close()
	self := strings.TrimPrefix(ts.URL, "http://")
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		want               int
	}{
		{"rebound host reads jobs", "GET", "/jobs", map[string]string{"Host": "evil.example:" + strings.Split(self, ":")[1]}, 403},
		{"rebound host reads results", "GET", "/results", map[string]string{"Host": "evil.example"}, 403},
		{"rebound host scans", "POST", "/scan", map[string]string{"Host": "attacker.test"}, 403},
		{"cross-origin submit", "POST", "/jobs/run", map[string]string{"Origin": "http://127.0.0.1:1"}, 403},
		{"cross-origin submit from a web site", "POST", "/jobs/run", map[string]string{"Origin": "https://example.com"}, 403},
		{"opaque origin submit", "POST", "/jobs/run", map[string]string{"Origin": "null"}, 403},
		{"cross-site fetch metadata", "POST", "/jobs/run", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site other port", "POST", "/jobs/run", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"same origin submit", "POST", "/jobs/run", map[string]string{"Origin": ts.URL, "Sec-Fetch-Site": "same-origin"}, 202},
		{"plain client submit", "POST", "/jobs/run", nil, 202},
		{"localhost host", "GET", "/jobs", map[string]string{"Host": "localhost:" + strings.Split(self, ":")[1]}, 200},
		{"ipv6 loopback host", "GET", "/health", map[string]string{"Host": "[::1]:8000"}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := sendHdr(t, tc.method, ts.URL+tc.path, tc.hdr)
			if code != tc.want {
				t.Errorf("%s %s %v: status %d (%s), want %d", tc.method, tc.path, tc.hdr, code, body, tc.want)
			}
		})
	}
	if jobs, _ := mgr.Page(0, 0); len(jobs) != 2 {
		t.Errorf("%d jobs queued, want the 2 allowed", len(jobs))
	}
}

// TestAuthBeforeRouting (issue 14, defect 11): with a token, an unknown path or
// method is answered 401 like a known one, so nothing about the routes leaks.
func TestAuthBeforeRouting(t *testing.T) {
	t.Parallel()
	mgr := &typhon.Manager{Runner: typhon.Runner{DataDir: t.TempDir()}}
	ts := httptest.NewServer(newAPI(mgr, "s3cret", slog.New(slog.DiscardHandler)))
	defer ts.Close()
	for _, c := range []struct{ method, path string }{{"GET", "/nope"}, {"PUT", "/jobs"}, {"GET", "/jobs/../x"}, {"PATCH", "/results"}} {
		if code, body := sendHdr(t, c.method, ts.URL+c.path, nil); code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d (%s), want 401", c.method, c.path, code, body)
		}
	}
	if code, _ := sendHdr(t, "GET", ts.URL+"/health", nil); code != http.StatusOK {
		t.Errorf("GET /health without a token: %d, want 200", code)
	}
}

// TestErrorDetailCut (issue 14, defect 11): input echoed in an error is cut.
func TestErrorDetailCut(t *testing.T) {
	t.Parallel()
	mgr := &typhon.Manager{Runner: typhon.Runner{DataDir: t.TempDir()}}
	ts := httptest.NewServer(newAPI(mgr, "", slog.New(slog.DiscardHandler)))
	defer ts.Close()
	long := strings.Repeat("m", 6000)
	code, body := sendHdr(t, "POST", ts.URL+"/jobs/run?mode="+long, nil)
	var d struct{ Detail string }
	if err := json.Unmarshal([]byte(body), &d); err != nil || code != http.StatusBadRequest {
		t.Fatalf("status %d, body %.200s: %v", code, body, err)
	}
	if len(d.Detail) > maxDetail+3 || !strings.Contains(d.Detail, "invalid mode") {
		t.Errorf("detail is %d bytes (%.80s...), want at most %d naming the cause", len(d.Detail), d.Detail, maxDetail+3)
	}
}

// TestEncodeErrorAnswered500 (issue 14, defect 1): a value that does not encode
// is answered 500 with a JSON detail and logged, never 200 with an empty body.
func TestEncodeErrorAnswered500(t *testing.T) {
	log := &syncBuffer{}
	encodeLog.Store(slog.New(slog.NewTextHandler(log, nil)))
	rec := httptest.NewRecorder()
	writeJSON(rec, http.StatusOK, map[string]float64{"tps": math.Inf(1)})
	if rec.Code != http.StatusInternalServerError || !json.Valid(rec.Body.Bytes()) || !strings.Contains(rec.Body.String(), "internal error") {
		t.Errorf("answer %d %q, want 500 with a JSON detail", rec.Code, rec.Body.String())
	}
	if !strings.Contains(log.String(), "cannot encode") {
		t.Errorf("nothing logged: %q", log.String())
	}
}

// TestSecretFlags (issue 14, defect 11): a blank token is refused, a token file
// is read (its newline dropped), and the environment is used when no flag is.
func TestSecretFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	blank := filepath.Join(dir, "blank")
	if err := os.WriteFile(blank, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TYPHON_TOKEN", "from-env")
	for _, tc := range []struct {
		args    []string
		want    string
		wantErr string
	}{
		{[]string{"-token", " "}, "", "empty or holds white space"},
		{[]string{"-token", "a b"}, "", "empty or holds white space"},
		{[]string{"-token-file", blank}, "", "empty or holds white space"},
		{[]string{"-token-file", file}, "from-file", ""},
		{[]string{"-token-file", file, "-token", "x"}, "", "both"},
		{nil, "from-env", ""},
	} {
		c, err := parseFlags(tc.args, io.Discard)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || c.token != tc.want):
			t.Errorf("%v: token %q, err %v; want %q", tc.args, c.token, err, tc.want)
		}
	}
}

// TestEmptyDataFlag (issue 14, defect 5): with -data "" the jobs and /results
// use one directory, the default one.
func TestEmptyDataFlag(t *testing.T) {
	data := t.TempDir()
	t.Setenv("TYPHON_DATA", data)
	llm := enginetest.NewServer(nil)
	defer llm.Close()
	addr := freeAddr(t)
	base := serveConfig(t, config{addr: addr, data: "", url: llm.URL, model: "fake", queue: 4, jobTimeout: time.Minute,
		plan: tinyPlan(tinyTest("tiny", 1, 4))}, io.Discard)
	id := submitAndWait(t, base)
	var list struct {
		Total   int `json:"total"`
		Results []struct {
			RunID string `json:"run_id"`
		} `json:"results"`
	}
	if code := doJSON(t, "GET", base+"/results", &list); code != 200 || list.Total != 1 {
		t.Fatalf("GET /results: %d, %d records; want the job's record", code, list.Total)
	}
	if _, err := os.Stat(filepath.Join(data, "runs", list.Results[0].RunID+".json")); err != nil {
		t.Errorf("job %s: record not in the default directory: %v", id, err)
	}
}

// submitAndWait submits a quick job and waits until it finished; it returns
// its id.
func submitAndWait(t *testing.T, base string) string {
	t.Helper()
	var sub map[string]any
	if code := doJSON(t, "POST", base+"/jobs/run", &sub); code != http.StatusAccepted {
		t.Fatalf("submit: %d %v", code, sub)
	}
	id := sub["job_id"].(string)
	deadline := time.Now().Add(time.Minute)
	for {
		var j jobView
		doJSON(t, "GET", base+"/jobs/"+id, &j)
		if j.Status == "done" || j.Status == "error" {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s", id, j.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJobHistoryBounded (issue 14, defect 8): a Manager keeps a bounded number
// of finished jobs; GET /jobs pages through those, and an older job is still
// answered from its record.
func TestJobHistoryBounded(t *testing.T) {
	t.Parallel()
	llm := enginetest.NewServer(nil)
	defer llm.Close()
	mgr := &typhon.Manager{JobHistory: 2, Runner: typhon.Runner{URL: llm.URL, Model: "fake", DataDir: t.TempDir(),
		Plan: tinyPlan(tinyTest("tiny", 1, 4))}}
	base := startAPI(t, mgr, "")
	var ids []string
	for range 6 {
		ids = append(ids, submitAndWait(t, base))
	}
	code, body, hdr := doRaw(t, "GET", base+"/jobs?limit=2&offset=1", "", nil)
	var page []jobView
	if err := json.Unmarshal(body, &page); err != nil || code != 200 {
		t.Fatalf("GET /jobs page: %d %s", code, body)
	}
	if total := hdr.Get("X-Total-Count"); total != "2" || len(page) != 1 {
		t.Errorf("X-Total-Count %q and %d jobs on the page, want 2 held and 1 on the page", total, len(page))
	}
	var old jobView
	if code := doJSON(t, "GET", base+"/jobs/"+ids[0], &old); code != 200 || old.Status != "done" || old.Result == nil || old.RunID == "" {
		t.Errorf("GET a dropped job: %d %+v, want it answered from its record", code, old)
	}
	if code, _ := sendHdr(t, "GET", base+"/jobs?limit=100000", nil); code != http.StatusBadRequest {
		t.Errorf("GET /jobs?limit=100000: %d, want 400", code)
	}
}

func testClient(timeout time.Duration) *http.Client { return &http.Client{Timeout: timeout} }
