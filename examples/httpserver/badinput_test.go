package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon"
)

// TestBadInput sends the bad inputs of the closing note's table: each answer is
// the status of its kind with a JSON body {"detail": "..."} and nothing else.
func TestBadInput(t *testing.T) {
	t.Parallel()
	const token = "tok"
	// No Run loop: jobs stay pending. Queue limit 1, held by one pending job, so a
	// further submit is a 429; one cancelled job is finished, so cancelling it
	// again is a 409.
	mgr := &typhon.Manager{Runner: typhon.Runner{DataDir: t.TempDir()}, QueueLimit: 1}
	done, err := mgr.Submit("quick")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Cancel(done.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := mgr.Submit("quick"); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(newAPI(mgr, token, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer ts.Close()
	long := strings.Repeat("a", 100)
	big := bytes.Repeat([]byte("{"), 1<<20)

	tests := []struct {
		name, method, path string
		auth               string // Authorization header; "-" sends none
		body               []byte
		wantStatus         int
		wantDetail         string
	}{
		{"unknown mode", "POST", "/jobs/run?mode=turbo", "", nil, 400, `invalid mode "turbo": want quick, full, zeus or load`},
		{"empty mode", "POST", "/jobs/run?mode=", "", nil, 400, "invalid mode: empty mode"},
		{"mode in capitals", "POST", "/jobs/run?mode=QUICK", "", nil, 400, `invalid mode "QUICK": want quick, full, zeus or load`},
		{"mode with a NUL", "POST", "/jobs/run?mode=quick%00", "", nil, 400, `invalid mode "quick\x00": want quick, full, zeus or load`},
		{"mode twice", "POST", "/jobs/run?mode=quick&mode=full", "", nil, 400, "bad request: mode given 2 times"},
		{"load: no users", "POST", "/jobs/run?mode=load&users=0", "", nil, 400, "invalid load options: users 0: want 1 to 100,000"},
		{"load: negative rate", "POST", "/jobs/run?mode=load&rate=-1", "", nil, 400, "invalid load options: rate -1: want above 0 and at most 100,000 per second"},
		{"load: rate not a number", "POST", "/jobs/run?mode=load&rate=fast", "", nil, 400, `invalid load options: rate="fast": want requests per second, e.g. 0.5,1,2`},
		{"load: users and rate", "POST", "/jobs/run?mode=load&users=1&rate=2", "", nil, 400, "invalid load options: users and rate together: a sweep is of one or the other"},
		{"load: unknown SLO", "POST", "/jobs/run?mode=load&slo=queue%3D1s", "", nil, 400, `invalid load options: SLO "queue": want ttft, tpot or e2e`},
		{"load: bad duration", "POST", "/jobs/run?mode=load&duration=soon", "", nil, 400, `invalid load options: duration="soon": want a duration, e.g. 60s`},
		{"load: duration twice", "POST", "/jobs/run?mode=load&duration=1s&duration=2s", "", nil, 400, "bad request: duration given 2 times"},
		{"load parameter with quick", "POST", "/jobs/run?mode=quick&users=4", "", nil, 400, "bad request: users is a parameter of mode=load, not of mode=quick"},
		{"load: valid, queue full", "POST", "/jobs/run?mode=load&users=1,2&duration=5s&slo=ttft%3D2s", "", nil, 429, "job queue full: 1 jobs pending"},
		{"queue full", "POST", "/jobs/run?mode=quick", "", nil, 429, "job queue full: 1 jobs pending"},
		{"limit 0", "GET", "/results?limit=0", "", nil, 400, `bad request: limit must be an integer from 1 to 500, got "0"`},
		{"limit too large", "GET", "/results?limit=501", "", nil, 400, `bad request: limit must be an integer from 1 to 500, got "501"`},
		{"limit overflows", "GET", "/results?limit=99999999999999999999", "", nil, 400, `bad request: limit must be an integer from 1 to 500, got "99999999999999999999"`},
		{"limit not a number", "GET", "/results?limit=ten", "", nil, 400, `bad request: limit must be an integer from 1 to 500, got "ten"`},
		{"negative offset", "GET", "/results?offset=-1", "", nil, 400, `bad request: offset must be an integer from 0 to 1073741824, got "-1"`},
		{"offset twice", "GET", "/results?offset=1&offset=2", "", nil, 400, "bad request: offset given 2 times"},
		{"no token", "GET", "/jobs", "-", nil, 401, "missing or wrong bearer token"},
		{"wrong token", "GET", "/jobs", "Bearer nope", nil, 401, "missing or wrong bearer token"},
		{"basic auth", "GET", "/jobs", "Basic dG9rOg==", nil, 401, "missing or wrong bearer token"},
		{"unknown job", "GET", "/jobs/deadbeef", "", nil, 404, "Job 'deadbeef' not found."},
		{"cancel unknown job", "DELETE", "/jobs/deadbeef", "", nil, 404, "Job 'deadbeef' not found."},
		{"job id of 100 characters", "GET", "/jobs/" + long, "", nil, 404, "Job '" + long[:64] + "...' not found."},
		{"job id with a NUL", "GET", "/jobs/%00", "", nil, 404, "Job '\x00' not found."},
		{"unknown record", "GET", "/results/20250101T000000Z-00000000", "", nil, 404, "Record '20250101T000000Z-00000000' not found."},
		{"record path traversal", "GET", "/results/..%2F..%2Fetc%2Fpasswd", "", nil, 404, "not found: /results/../../etc/passwd"},
		{"record id ..", "GET", "/results/%2e%2e", "", nil, 404, "not found: /results/.."},
		{"dot-dot path", "GET", "/results/..", "", nil, 404, "not found: /results/.."},
		{"double slash", "GET", "//jobs", "", nil, 404, "not found: //jobs"},
		{"trailing slash", "GET", "/jobs/", "", nil, 404, "not found: /jobs/"},
		{"extra segment", "GET", "/jobs/a/b", "", nil, 404, "not found: /jobs/a/b"},
		{"unknown path", "GET", "/nope", "", nil, 404, "not found: /nope"},
		{"GET on submit", "GET", "/jobs/run", "", nil, 405, "method GET not allowed on /jobs/run"},
		{"DELETE on submit", "DELETE", "/jobs/run", "", nil, 405, "method DELETE not allowed on /jobs/run"},
		{"PUT on a job", "PUT", "/jobs/deadbeef", "", nil, 405, "method PUT not allowed on /jobs/{id}"},
		{"POST on health", "POST", "/health", "-", nil, 405, "method POST not allowed on /health"},
		{"GET on scan", "GET", "/scan", "", nil, 405, "method GET not allowed on /scan"},
		{"cancel a finished job", "DELETE", "/jobs/" + done.ID, "", nil, 409, fmt.Sprintf("job already finished: %q is error", done.ID)},
		{"body of 1 MiB", "POST", "/jobs/run?mode=quick", "", big, 413, "request body larger than 65536 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, ts.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			switch tc.auth {
			case "":
				req.Header.Set("Authorization", "Bearer "+token)
			case "-":
			default:
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d (%s)", resp.StatusCode, tc.wantStatus, raw)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var got map[string]any
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("answer is not JSON: %v (%q)", err, raw)
			}
			if diff := cmp.Diff(map[string]any{"detail": tc.wantDetail}, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if tc.wantStatus == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
}

// TestInternalErrorHidden: an error of no known kind is a 500 whose answer is
// {"detail": "internal error"}; the Go error's text goes to the log only.
func TestInternalErrorHidden(t *testing.T) {
	t.Parallel()
	secret := "open /var/lib/typhon/runs/x.json: permission denied"
	tests := []struct {
		name string
		err  error
	}{
		{"plain", errors.New(secret)},
		{"path error", &os.PathError{Op: "open", Path: "/var/lib/typhon/runs/x.json", Err: os.ErrPermission}},
		{"wrapped", fmt.Errorf("report: list records: %w", errors.New(secret))},
		{"joined", errors.Join(errors.New(secret), errors.New("second"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest("GET", "/results", nil), slog.New(slog.NewTextHandler(&logs, nil)), tc.err)
			if rec.Code != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", rec.Code)
			}
			if got, want := rec.Body.String(), "{\n  \"detail\": \"internal error\"\n}\n"; got != want {
				t.Errorf("body = %q, want %q", got, want)
			}
			if strings.Contains(rec.Body.String(), "/var/lib") || strings.Contains(rec.Body.String(), "permission") {
				t.Errorf("body shows the Go error: %s", rec.Body.String())
			}
			if !strings.Contains(logs.String(), "/var/lib/typhon/runs/x.json") {
				t.Errorf("log lacks the error: %q", logs.String())
			}
		})
	}
}
