package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// TestAskOtherServerGetsNoRunnerKey: with -ask-url naming another server, the
// benchmarked server's API key is neither sent to it nor, when a record's
// error quotes it, in the summary it gets.
func TestAskOtherServerGetsNoRunnerKey(t *testing.T) {
	const key = "sk-bench-server-key-7f3a"
	var mu sync.Mutex
	var body, auth string
	llm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		body, auth = string(b), r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: [DONE]\n\n")
	}))
	defer llm.Close()
	data := t.TempDir()
	res := &schema.Result{SchemaVersion: schema.Version, RunID: typhon.NewRunID(time.Now()), RunAt: time.Now().UTC(),
		Status: schema.StatusComplete, Mode: "quick", Model: "tiny", Error: "HTTP 401: invalid key " + key,
		Server: schema.ServerInfo{Name: "llama.cpp", Kind: "llama.cpp", APIBase: "http://127.0.0.1:9"},
		Benchmarks: []schema.Benchmark{{TestID: "baseline_short", Category: schema.CategoryBaseline, NRuns: 1,
			Runs: []schema.RunSample{{Error: "HTTP 401: invalid key " + key, ErrorKind: "http_401"}}}}}
	if err := (&report.Store{Dir: data}).Finish(res); err != nil {
		t.Fatal(err)
	}
	a := newAPI(&typhon.Manager{Runner: typhon.Runner{DataDir: data, APIKey: key}}, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.askCfg = askConfig{url: llm.URL}
	ts := httptest.NewServer(a)
	defer ts.Close()
	if code := doJSON(t, "GET", ts.URL+"/ask", nil); code != http.StatusOK {
		t.Fatalf("status %d, want 200", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(body, key) || strings.Contains(auth, key) {
		t.Errorf("the other server got the key (auth %q):\n%s", auth, body)
	}
}

// TestAskKeyOnlyToTheRunnersServer: the last run may be a record a worker
// uploaded, naming any server; GET /ask sends the runner's API key only to the
// server the runner benchmarks, never to another one a record names.
func TestAskKeyOnlyToTheRunnersServer(t *testing.T) {
	const key = "sk-runner-key-5d1e"
	var mu sync.Mutex
	var auths []string
	llm := func() *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			auths = append(auths, r.Host+" "+r.Header.Get("Authorization"))
			mu.Unlock()
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: [DONE]\n\n")
		}))
	}
	own, other := llm(), llm()
	defer own.Close()
	defer other.Close()
	for _, c := range []struct {
		name, recordBase string
		wantKey          bool
	}{{"own server", own.URL, true}, {"another server", other.URL, false}} {
		data := t.TempDir()
		recordRun(t, data, c.recordBase, "tiny")
		a := newAPI(&typhon.Manager{Runner: typhon.Runner{DataDir: data, URL: own.URL + "/", APIKey: key}}, "",
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		ts := httptest.NewServer(a)
		mu.Lock()
		auths = nil
		mu.Unlock()
		code := doJSON(t, "GET", ts.URL+"/ask", nil)
		ts.Close()
		mu.Lock()
		got := strings.Join(auths, "; ")
		mu.Unlock()
		if code != http.StatusOK || strings.Contains(got, key) != c.wantKey {
			t.Errorf("%s: status %d, requests %q; want 200, key sent %v", c.name, code, got, c.wantKey)
		}
	}
}

// TestAskBoundsConcurrentAsks: 20 GET /ask at once do not become 20 requests
// to the LLM server: at most askMaxInFlight are in flight, the others are
// refused with 429 at once.
func TestAskBoundsConcurrentAsks(t *testing.T) {
	var inFlight, most atomic.Int32
	llm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(500 * time.Millisecond)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\ndata: [DONE]\n\n")
	}))
	defer llm.Close()
	data := t.TempDir()
	recordRun(t, data, llm.URL, "tiny")
	base := serveAsk(t, data, askConfig{})
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = doJSON(t, "GET", base+"/ask", nil)
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	t.Logf("status codes %v, at most %d in flight at the LLM", count, most.Load())
	if int(most.Load()) > askMaxInFlight || count[http.StatusOK] == 0 || count[http.StatusOK]+count[http.StatusTooManyRequests] != len(codes) {
		t.Errorf("status codes %v, %d in flight at once; want 200s and 429s, at most %d in flight", count, most.Load(), askMaxInFlight)
	}
}
