package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/internal/testbed"
)

// concretePath fills a route pattern's wildcards.
func concretePath(pattern string) string {
	r := strings.NewReplacer("{id}", "deadbeef", "{run_id}", "20250101T000000Z-00000000")
	return r.Replace(pattern)
}

// TestAuthEveryEndpoint: with a token set, every route and method but /health
// answers 401 with a JSON detail to a request without the token or with a wrong
// one, and lets the right token through.
func TestAuthEveryEndpoint(t *testing.T) {
	t.Parallel()
	const token = "s3cret-token"
	mgr := &typhon.Manager{Runner: typhon.Runner{
		DataDir: t.TempDir(),
		Detect:  detect.Options{NoDefaults: true}, // POST /scan probes nothing
	}}
	a := newAPI(mgr, token, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(a)
	defer ts.Close()

	bad := []struct {
		name   string
		header string // Authorization; "" sends none
		query  string // added to the URL
	}{
		{"no header", "", ""},
		{"wrong token", "Bearer wrong", ""},
		{"token prefix", "Bearer " + token[:len(token)-1], ""},
		{"token with suffix", "Bearer " + token + "x", ""},
		{"two spaces", "Bearer  " + token, ""},
		{"token only in the query", "", "access_token=" + token + "&token=" + token},
		{"no scheme", token, ""},
		{"basic scheme", "Basic " + token, ""},
		{"empty bearer", "Bearer ", ""},
	}
	checked := 0
	for _, rt := range a.routes {
		for method := range rt.methods {
			url := ts.URL + concretePath(rt.pattern)
			t.Run(method+" "+rt.pattern, func(t *testing.T) {
				for _, tc := range bad {
					u := url
					if tc.query != "" {
						u += "?" + tc.query
					}
					req, _ := http.NewRequest(method, u, nil)
					if tc.header != "" {
						req.Header.Set("Authorization", tc.header)
					}
					code, body := send(t, req)
					if rt.public {
						if code != http.StatusOK {
							t.Errorf("%s: status %d, want 200 (public)", tc.name, code)
						}
						continue
					}
					if code != http.StatusUnauthorized || body["detail"] != "missing or wrong bearer token" {
						t.Errorf("%s: %d %.200v, want 401 {\"detail\": \"missing or wrong bearer token\"}", tc.name, code, body)
					}
				}
				for _, header := range []string{"Bearer " + token, "bearer " + token} {
					req, _ := http.NewRequest(method, url, nil)
					req.Header.Set("Authorization", header)
					if code, body := send(t, req); code == http.StatusUnauthorized {
						t.Errorf("%q: 401 %.200v with the right token", header, body)
					}
				}
			})
			checked++
		}
	}
	if checked < 9 {
		t.Errorf("checked %d route methods, want every one (at least 9)", checked)
	}
}

// send sends req and decodes its JSON object answer.
func send(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", req.Method, req.URL, ct)
	}
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("%s %s: %v in %q", req.Method, req.URL, err, b)
		}
	}
	return resp.StatusCode, body
}

// onlyReader hides a reader's length, so the client sends the body chunked.
type onlyReader struct{ io.Reader }

// TestBodyTooLarge: a request body over the cap is refused with 413 and a JSON
// detail, with or without a Content-Length; one at the cap is read and ignored.
func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	mgr := &typhon.Manager{Runner: typhon.Runner{DataDir: t.TempDir()}}
	ts := httptest.NewServer(newAPI(mgr, "tok", slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer ts.Close()
	big := bytes.Repeat([]byte("x"), 1<<20)
	tests := []struct {
		name, method, path string
		body               io.Reader
		want               int
	}{
		{"1 MiB with length", "POST", "/jobs/run", bytes.NewReader(big), http.StatusRequestEntityTooLarge},
		{"1 MiB chunked", "POST", "/jobs/run", onlyReader{bytes.NewReader(big)}, http.StatusRequestEntityTooLarge},
		{"cap plus one chunked", "POST", "/jobs/run", onlyReader{bytes.NewReader(big[:maxBodyBytes+1])}, http.StatusRequestEntityTooLarge},
		{"body on a GET", "GET", "/jobs", bytes.NewReader(big), http.StatusRequestEntityTooLarge},
		{"at the cap", "POST", "/jobs/run", bytes.NewReader(big[:maxBodyBytes]), http.StatusAccepted},
		{"JSON body ignored", "POST", "/jobs/run?mode=quick", strings.NewReader(`{"mode": "full"}`), http.StatusAccepted},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, tc.body)
		req.Header.Set("Authorization", "Bearer tok")
		code, body := send(t, req)
		if code != tc.want {
			t.Errorf("%s: status %d %v, want %d", tc.name, code, body, tc.want)
		}
		if tc.want == http.StatusRequestEntityTooLarge && body["detail"] != "request body larger than 65536 bytes" {
			t.Errorf("%s: detail %q", tc.name, body["detail"])
		}
		if tc.want == http.StatusAccepted && body["mode"] != "quick" {
			t.Errorf("%s: mode %v, want quick (the body is ignored)", tc.name, body["mode"])
		}
	}
}

// TestListenAddress: a non-loopback address is refused without a token; a token
// lets it past the check (the test address is one no interface has, so nothing
// listens beyond loopback); loopback addresses need no token.
func TestListenAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" means run serves (and stops with the cancelled context)
	}{
		{"all IPv4", []string{"-addr", "0.0.0.0:0"}, "refusing to listen on non-loopback address"},
		{"all, no host", []string{"-addr", ":0"}, "refusing to listen on non-loopback address"},
		{"all IPv6", []string{"-addr", "[::]:0"}, "refusing to listen on non-loopback address"},
		{"LAN address", []string{"-addr", "192.0.2.1:8000"}, "refusing to listen on non-loopback address"},
		{"host name", []string{"-addr", "example.invalid:8000"}, "refusing to listen on non-loopback address"},
		{"no port", []string{"-addr", "127.0.0.1"}, "bad -addr"},
		{"token lets it past the check", []string{"-addr", "192.0.2.1:0", "-token", "t"}, "cannot assign requested address"},
		{"loopback", []string{"-addr", "127.0.0.1:0"}, ""},
		{"localhost", []string{"-addr", "localhost:0"}, ""},
		{"bad queue", []string{"-queue", "0"}, "bad -queue 0"},
		{"bad job timeout", []string{"-job-timeout", "-1s"}, "bad -job-timeout"},
		{"stray argument", []string{"-addr", "127.0.0.1:0", "extra"}, "unexpected arguments"},
		// The Secret of deploy/kubernetes/collector.yaml as published: anyone
		// who read the manifest could upload with it.
		{"the manifests' placeholder token", []string{"-addr", "127.0.0.1:0", "-token", "CHANGE-ME-to-a-long-random-string"}, "placeholder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // serve stops at once once it listens
			var out, errOut bytes.Buffer
			err := run(ctx, append([]string{"-data", t.TempDir()}, tc.args...), &out, &errOut)
			if tc.wantErr == "" {
				if err != nil || !strings.HasPrefix(out.String(), "listening on http://") {
					t.Errorf("run = %v, stdout %q; want it to listen", err, out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("run = %v, want an error containing %q", err, tc.wantErr)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing: it must not listen", out.String())
			}
		})
	}
}

// TestAPIKeyNeverStored runs a job against a llama-server that needs an API key,
// given to Typhon's server by TYPHON_API_KEY and by -api-key, with debug logging:
// the job succeeds (so the key was sent) and the key appears in no file of the
// data directory, no log line and no answer of the API.
func TestAPIKeyNeverStored(t *testing.T) {
	const key = "sk-typhon-test-7f3a9c0e1d"
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048, ExtraArgs: []string{"--api-key", key}})
	for _, tc := range []struct {
		name string
		env  string   // TYPHON_API_KEY
		args []string // more flags
	}{
		{"environment", key, nil},
		{"flag", "", []string{"-api-key", key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TYPHON_API_KEY", tc.env)
			t.Setenv("TYPHON_TOKEN", "")
			data := t.TempDir()
			logs := &syncBuffer{}
			c, err := parseFlags(append([]string{"-addr", freeAddr(t), "-data", data, "-url", srv.URL, "-model", srv.Model, "-v"}, tc.args...), logs)
			if err != nil {
				t.Fatal(err)
			}
			c.plan = tinyPlan(tinyTest("first", 2, 16))
			base := serveConfig(t, c, logs)

			var answers bytes.Buffer
			get := func(method, path string, out any) {
				code, body, _ := doRaw(t, method, base+path, "", nil)
				answers.Write(body)
				if code >= 300 {
					t.Fatalf("%s %s: status %d: %s", method, path, code, body)
				}
				if out != nil {
					if err := json.Unmarshal(body, out); err != nil {
						t.Fatal(err)
					}
				}
			}
			var sub map[string]any
			get("POST", "/jobs/run", &sub)
			j := pollJob(t, base, sub["job_id"].(string), 2*time.Minute, nil)
			if j.Status != "done" {
				t.Fatalf("job against the key-protected server: %s %q, want done", j.Status, j.Error)
			}
			get("GET", "/jobs/"+j.JobID, nil)
			get("GET", "/jobs", nil)
			get("GET", "/results", nil)
			get("GET", "/results/"+j.RunID, nil)
			get("POST", "/scan", nil)

			if !strings.Contains(logs.String(), "level=DEBUG") {
				t.Errorf("no debug line in the log: the check below would prove little")
			}
			for where, text := range map[string]string{"log": logs.String(), "API answers": answers.String()} {
				if strings.Contains(text, key) {
					t.Errorf("the API key appears in the %s", where)
				}
			}
			files := 0
			err = filepath.Walk(data, func(path string, info os.FileInfo, err error) error {
				if err != nil || info.IsDir() {
					return err
				}
				files++
				b, err := os.ReadFile(path)
				if bytes.Contains(b, []byte(key)) {
					t.Errorf("the API key appears in %s", path)
				}
				return err
			})
			if err != nil || files < 3 {
				t.Errorf("walked %d files of the data directory (%v), want the record, last_run.json and chronicle.jsonl", files, err)
			}

			// -h prints no secret that came from the environment.
			var usage bytes.Buffer
			t.Setenv("TYPHON_TOKEN", "token-from-env-3b8e")
			t.Setenv("TYPHON_API_KEY", key)
			_, _ = parseFlags([]string{"-h"}, &usage)
			if u := usage.String(); strings.Contains(u, key) || strings.Contains(u, "token-from-env-3b8e") || !strings.Contains(u, "-api-key") {
				t.Errorf("usage shows a secret or lacks -api-key:\n%s", u)
			}
		})
	}

	// Control: without the key the same server refuses the job, so the key above
	// was really sent.
	mgr := &typhon.Manager{Runner: typhon.Runner{
		URL: srv.URL, Model: srv.Model, DataDir: t.TempDir(), RequestTimeout: fixedTimeout,
		Plan: tinyPlan(tinyTest("first", 1, 8)),
	}}
	base := startAPI(t, mgr, "")
	var sub map[string]any
	doJSON(t, "POST", base+"/jobs/run", &sub)
	if j := pollJob(t, base, sub["job_id"].(string), time.Minute, nil); j.Status != "error" {
		t.Errorf("job without the key: %s, want error", j.Status)
	} else {
		t.Logf("without the key: %s", j.Error)
	}
}
