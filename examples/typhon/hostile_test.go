package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/report"
)

// Bounds of a quick job against a hostile server, checked by TestHostileServers.
const (
	hostileMemoryMB = 200             // peak resident memory of the typhon process
	hostileJobTime  = 2 * time.Minute // a job against a server that answers something
	silentJobTime   = 5 * time.Minute // a job against a server that never answers
)

// hostileServer is an OpenAI-compatible server that lists one model and answers
// chat completions (and /tokenize) with chat.
func hostileServer(t *testing.T, chat http.HandlerFunc) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"id":"hostile","object":"model"}]}`)
	})
	mux.HandleFunc("POST /v1/chat/completions", chat)
	mux.HandleFunc("POST /tokenize", chat)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

func sseHeaders(w http.ResponseWriter) http.Flusher {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	f := w.(http.Flusher)
	f.Flush()
	return f
}

const okChunk = `{"choices":[{"index":0,"delta":{"content":" tok"}}]}`

// hostileCases are the servers of the suite and a word the job's error must hold.
func hostileCases(t *testing.T) []struct {
	name   string
	chat   http.HandlerFunc
	cause  string // in the error, or "" when the job completes
	silent bool
} {
	good := hostileServer(t, func(w http.ResponseWriter, r *http.Request) { finishStream(w, 1) })
	return []struct {
		name   string
		chat   http.HandlerFunc
		cause  string
		silent bool
	}{
		{name: "endless stream", chat: func(w http.ResponseWriter, r *http.Request) {
			f := sseHeaders(w)
			for i := 0; r.Context().Err() == nil; i++ {
				if _, err := fmt.Fprintf(w, "data: %s\n\n", okChunk); err != nil {
					return
				}
				if i%64 == 0 {
					f.Flush()
				}
			}
		}, cause: "budget"},
		{name: "never answers", chat: func(w http.ResponseWriter, r *http.Request) {
			// The body read, net/http notices the client going away.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(silentJobTime):
			}
		}, cause: "never answered", silent: true},
		{name: "huge line", chat: func(w http.ResponseWriter, r *http.Request) {
			f := sseHeaders(w)
			fmt.Fprint(w, "data: ")
			line := strings.Repeat("x", 64<<10)
			for r.Context().Err() == nil {
				if _, err := fmt.Fprint(w, line); err != nil {
					return
				}
				f.Flush()
			}
		}, cause: "budget"},
		{name: "invalid JSON", chat: func(w http.ResponseWriter, r *http.Request) {
			sseHeaders(w)
			fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"content\":\"a\"\n\n")
		}, cause: "not JSON"},
		{name: "NaN, Inf and 1e308 in every number", chat: func(w http.ResponseWriter, r *http.Request) {
			sseHeaders(w)
			fmt.Fprintf(w, "data: %s\n\n", okChunk)
			fmt.Fprint(w, `data: {"choices":[{"index":0,"delta":{"content":" b"},"finish_reason":"length"}],"usage":{"prompt_tokens":1e308,"completion_tokens":NaN},"timings":{"prompt_ms":Infinity,"predicted_per_second":-Infinity}}`+"\n\n")
		}, cause: "not JSON"},
		{name: "huge figures", chat: func(w http.ResponseWriter, r *http.Request) { finishStream(w, 1e306) }},
		{name: "absurd usage", chat: func(w http.ResponseWriter, r *http.Request) {
			sseHeaders(w)
			fmt.Fprintf(w, "data: %s\n\n", okChunk)
			fmt.Fprint(w, `data: {"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":4000000000000000}}`+"\n\ndata: [DONE]\n\n")
		}, cause: "output tokens"},
		{name: "mid-stream close", chat: func(w http.ResponseWriter, r *http.Request) {
			f := sseHeaders(w)
			fmt.Fprintf(w, "data: %s\n\n", okChunk)
			f.Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}, cause: "broke"},
		{name: "redirect", chat: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, good.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}, cause: "redirect"},
	}
}

// finishStream sends a finished completion whose timings hold the figure v.
func finishStream(w http.ResponseWriter, v float64) {
	sseHeaders(w)
	for range 3 {
		fmt.Fprintf(w, "data: %s\n\n", okChunk)
	}
	fmt.Fprintf(w, `data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":20,"completion_tokens":3},"timings":{"prompt_n":20,"prompt_ms":%g,"predicted_n":3,"predicted_ms":%g,"predicted_per_second":%g,"prompt_per_second":%g}}`+"\n\ndata: [DONE]\n\n", v, v, v, v)
}

// TestHostileServers (issue 14) runs a whole quick job of the built typhon
// command against each hostile server: the job ends within its bound, the
// process's peak memory stays under hostileMemoryMB, the record is valid JSON,
// and the error names the cause.
func TestHostileServers(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	for _, tc := range hostileCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := hostileServer(t, tc.chat)
			data := t.TempDir()
			limit := hostileJobTime
			if tc.silent {
				limit = silentJobTime
			}
			cmd := exec.CommandContext(t.Context(), bin, "run", "-url", srv.URL, "-data", data)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.WaitDelay = time.Second
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatalf("run: %v", err)
			}
			timer := time.AfterFunc(limit, func() { _ = cmd.Process.Kill() })
			peak := watchPeakRSS(cmd.Process.Pid)
			err := cmd.Wait()
			timer.Stop()
			took := time.Since(start)
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatalf("run: %v", err)
			}
			rss := peak() / 1024
			t.Logf("%s: job took %.1f s (bound %s), peak memory %d MB (bound %d MB), exit %d; last line: %s",
				tc.name, took.Seconds(), limit, rss, hostileMemoryMB, cmd.ProcessState.ExitCode(), lastLine(stderr.String()))
			if took >= limit {
				t.Errorf("the job took %s, bound %s", took, limit)
			}
			if rss >= hostileMemoryMB {
				t.Errorf("peak memory %d MB, bound %d MB", rss, hostileMemoryMB)
			}
			switch {
			case tc.cause == "" && err != nil:
				t.Errorf("the job failed: %s", stderr.String())
			case tc.cause != "" && !strings.Contains(stderr.String(), tc.cause):
				t.Errorf("the error does not name the cause (%q):\n%s", tc.cause, lastLine(stderr.String()))
			}
			res := checkRecords(t, data)
			if tc.name == "huge figures" && !strings.Contains(fmt.Sprint(res.Benchmarks), "no server can measure") {
				t.Errorf("the record does not say the server's figures were dropped")
			}
		})
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 600 {
		s = s[:600] + "..."
	}
	return s
}

// checkRecords checks that the run left one record, valid JSON, readable as one,
// and returns it.
func checkRecords(t *testing.T, data string) *typhon.Result {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(data, report.RunsDir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("%d records in %s, want 1", len(files), data)
	}
	b, err := os.ReadFile(files[0])
	if err != nil || !json.Valid(b) {
		t.Fatalf("record %s: not valid JSON (%v)", files[0], err)
	}
	res, err := report.LoadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if res.Status == "running" {
		t.Errorf("record still says running")
	}
	return res
}

// TestHostileNames (issue 14, defect 10): a model name of 900 KB holding ANSI
// and OSC escapes, in a record on disk, is printed by history and summary
// bounded and without a raw escape (history shows it escaped; the summary's
// renderer drops escape sequences itself).
func TestHostileNames(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	evil := "\x1b]0;pwned\x07\x1b[2J\u009b31m" + strings.Repeat("a", 900<<10)
	res := record("20250601T142201Z-0000000e", t0, evil, 100, 100.5, 99.5, 100.2, 99.8)
	res.Server.Name = evil
	res.Error = "server said: " + evil
	res.Status = "failed"
	if err := (&report.Store{Dir: data}).Finish(res); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(data, report.RunsDir, res.RunID+".json")
	for _, args := range [][]string{{"history", "-data", data}, {"summary", file}} {
		var stdout, stderr strings.Builder
		if err := run(t.Context(), args, &stdout, &stderr); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		out := stdout.String()
		if strings.ContainsAny(out, "\x1b\x07\u009b") {
			t.Errorf("%v printed a raw escape", args)
		}
		if args[0] == "history" && !strings.Contains(out, `\u001b]0;pwned`) {
			t.Errorf("%v: the escape is not shown escaped", args)
		}
		if len(out) > 16<<10 {
			t.Errorf("%v printed %d bytes for one record, want the names cut", args, len(out))
		}
	}
}

// watchPeakRSS reads the process's own peak RSS (VmHWM, KiB) every 5 ms until
// the returned function is called after it exited; that returns the last
// reading. (The rusage of a child is no measure: Go starts it sharing the
// parent's memory until exec, and Linux carries that peak, the test binary's,
// into the child's ru_maxrss.) Growth in the last 5 ms before exit is missed.
func watchPeakRSS(pid int) func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		path := fmt.Sprintf("/proc/%d/status", pid)
		for {
			if b, err := os.ReadFile(path); err == nil {
				for line := range strings.Lines(string(b)) {
					if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						if kb, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64); err == nil {
							peak.Store(max(peak.Load(), kb))
						}
					}
				}
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() int64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}
