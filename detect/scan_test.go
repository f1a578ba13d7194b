package detect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/typhonbench/typhon/internal/leaktest"
)

// logBuffer collects debug output of a scan.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLog() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// skipLine returns the debug line that says why url was skipped.
func skipLine(log, url string) string {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "skipped candidate") && strings.Contains(line, "url="+url+" ") {
			return line
		}
	}
	return ""
}

// hangingListener accepts connections and never answers on them.
func hangingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

func handlerServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func portOf(t *testing.T, s *httptest.Server) int {
	t.Helper()
	return s.Listener.Addr().(*net.TCPAddr).Port
}

// TestScanBadInput: candidates that hang, answer HTML, garbage JSON, a redirect
// loop or 10 MB are each skipped with the reason in the debug output, and the
// scan still returns the good server.
func TestScanBadInput(t *testing.T) {
	t.Parallel()
	good := serveRecorded(t, loadRecorded(t, "llamacpp-docs"))
	hang := hangingListener(t)
	html := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!doctype html><title>NAS</title><p>hello")
	})
	garbage := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		bodies := []string{`{"object":"list","data":[{"id":`, `{"version": [1,2`, `]]]`, "\x00\xff{", `{"models": "many", "data": 7}`}
		fmt.Fprint(w, bodies[len(r.URL.Path)%len(bodies)])
	})
	redirect := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
	})
	huge := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := bytes.Repeat([]byte(`{"id":"x"},`), 1<<10)
		w.Write([]byte(`{"object":"list","data":[`))
		for written := 0; written < 10<<20; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		w.Write([]byte(`{"id":"last","owned_by":"vllm"}]}`))
	})

	log, buf := newLog()
	timeout := time.Second
	start := time.Now()
	got, err := Scan(t.Context(), Options{
		NoDefaults: true,
		URLs:       []string{good.URL, hang, html.URL, garbage.URL, redirect.URL, huge.URL},
		Timeout:    timeout,
		Logger:     log,
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	t.Logf("scan of 6 candidates, 5 bad, probe timeout %v: %v", timeout, elapsed)
	if len(got) != 1 || got[0].BaseURL != good.URL || got[0].Kind != KindLlamaCpp {
		t.Fatalf("Scan = %+v; want only the llama.cpp server at %s", got, good.URL)
	}
	tests := []struct {
		name, url, reason string
	}{
		{"accepts and never answers", hang, "no answer within 1s"},
		{"HTML", html.URL, "text/html"},
		{"garbage JSON", garbage.URL, "no known LLM API answered"},
		{"redirect loop", redirect.URL, "HTTP 302"},
		{"10 MB answer", huge.URL, fmt.Sprintf("answer larger than %d bytes", MaxAnswerBytes)},
	}
	for _, tt := range tests {
		line := skipLine(buf.String(), tt.url)
		if line == "" {
			t.Errorf("%s: no debug line says why %s was skipped; log:\n%s", tt.name, tt.url, buf)
			continue
		}
		if !strings.Contains(line, tt.reason) {
			t.Errorf("%s: debug line %q does not contain %q", tt.name, line, tt.reason)
		}
	}
}

// TestProbeRedirectLoopWithCallerClient: a caller's client that follows
// redirects gives up after its limit; the candidate is skipped.
func TestProbeRedirectLoopWithCallerClient(t *testing.T) {
	t.Parallel()
	redirect := handlerServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path, http.StatusMovedPermanently)
	})
	_, err := Probe(t.Context(), redirect.URL, Options{Client: &http.Client{}, Timeout: testTimeout})
	var pe *ProbeError
	if !errors.As(err, &pe) {
		t.Fatalf("Probe error = %v; want a *ProbeError", err)
	}
	if !strings.Contains(pe.Reason, "redirects") {
		t.Errorf("reason %q does not mention the redirects", pe.Reason)
	}
}

// TestScanTyphonNotReported: Typhon's own server is skipped even when it is the
// only candidate, and even when it fronts a llama-server look-alike.
func TestScanTyphonNotReported(t *testing.T) {
	t.Parallel()
	self := serveRecorded(t, loadRecorded(t, "typhon-self"))
	proxy := serveRecorded(t, loadRecorded(t, "typhon-self-proxy"))
	other := serveRecorded(t, loadRecorded(t, "ollama-0.17.4-loaded"))
	log, buf := newLog()
	got, err := Scan(t.Context(), Options{NoDefaults: true, Ports: []int{portOf(t, self.Server)},
		URLs: []string{proxy.URL, other.URL}, Timeout: testTimeout, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].BaseURL != other.URL {
		t.Fatalf("Scan = %+v; want only Ollama at %s", got, other.URL)
	}
	for _, u := range []string{"http://127.0.0.1:" + strconv.Itoa(portOf(t, self.Server)), proxy.URL} {
		if line := skipLine(buf.String(), u); !strings.Contains(line, "Typhon's own server") {
			t.Errorf("skip line for %s = %q; want it to name Typhon's own server", u, line)
		}
	}
}

// TestScanExcludeAndDedup: excluded base URLs are never probed; the same server
// named three ways is reported once.
func TestScanExcludeAndDedup(t *testing.T) {
	t.Parallel()
	a := serveRecorded(t, loadRecorded(t, "vllm"))
	b := serveRecorded(t, loadRecorded(t, "sglang"))
	pa := strconv.Itoa(portOf(t, a.Server))
	got, err := Scan(t.Context(), Options{
		NoDefaults: true,
		Ports:      []int{portOf(t, a.Server)},
		URLs:       []string{"http://localhost:" + pa + "/", "http://127.0.0.1:" + pa + "/v1", b.URL},
		Exclude:    []string{b.URL + "/"},
		Timeout:    testTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].BaseURL != a.URL || got[0].Kind != KindVLLM {
		t.Fatalf("Scan = %+v; want vLLM at %s once", got, a.URL)
	}
	if n := len(b.seen()); n != 0 {
		t.Errorf("excluded server got %d requests: %v", n, b.seen())
	}
}

// TestScanSorted: servers come back sorted by port, then URL.
func TestScanSorted(t *testing.T) {
	t.Parallel()
	var urls []string
	var ports []int
	for _, name := range []string{"tgi", "koboldcpp", "jan", "localai"} {
		s := serveRecorded(t, loadRecorded(t, name))
		urls = append(urls, s.URL)
		ports = append(ports, portOf(t, s.Server))
	}
	got, err := Scan(t.Context(), Options{NoDefaults: true, URLs: urls, Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(urls) {
		t.Fatalf("Scan found %d servers; want %d", len(got), len(urls))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Port > got[i].Port {
			t.Errorf("servers not sorted by port: %d before %d", got[i-1].Port, got[i].Port)
		}
	}
}

// TestScanAPIKey: the key goes to Options.URLs and never to loopback ports
// given by number, and never into the debug output.
func TestScanAPIKey(t *testing.T) {
	t.Parallel()
	const key = "sk-secret-4711"
	byPort := serveRecorded(t, loadRecorded(t, "lookalike-openai-proxy"))
	byURL := serveRecorded(t, loadRecorded(t, "lookalike-openai-proxy"))
	hang := hangingListener(t)
	log, buf := newLog()
	got, err := Scan(t.Context(), Options{NoDefaults: true, Ports: []int{portOf(t, byPort.Server)},
		URLs: []string{byURL.URL, hang}, APIKey: key, Timeout: 500 * time.Millisecond, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Scan found %d servers; want 2", len(got))
	}
	for _, h := range byPort.authHeaders() {
		if h != "" {
			t.Fatalf("a loopback port given by number got Authorization %q", h)
		}
	}
	auth := byURL.authHeaders()
	if len(auth) == 0 {
		t.Fatal("the URL candidate got no request")
	}
	for _, h := range auth {
		if h != "Bearer "+key {
			t.Fatalf("URL candidate got Authorization %q; want the bearer token", h)
		}
	}
	if strings.Contains(buf.String(), key) {
		t.Errorf("the API key appears in the debug output:\n%s", buf)
	}
}

// TestProbeSendsKey: Probe sends the key to the URL it is given.
func TestProbeSendsKey(t *testing.T) {
	t.Parallel()
	srv := serveRecorded(t, loadRecorded(t, "vllm"))
	if _, err := Probe(t.Context(), srv.URL, Options{APIKey: "k", Timeout: testTimeout}); err != nil {
		t.Fatal(err)
	}
	for _, h := range srv.authHeaders() {
		if h != "Bearer k" {
			t.Fatalf("Authorization = %q; want %q", h, "Bearer k")
		}
	}
}

// TestScanIPv6Loopback: a default-style loopback candidate that only listens on
// [::1] is found there.
func TestScanIPv6Loopback(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if probe, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
		probe.Close() // 127.0.0.1 on that port is free: the fallback is what finds it
	} else {
		ln.Close()
		t.Skipf("port %d is taken on 127.0.0.1", port)
	}
	r := loadRecorded(t, "vllm")
	srv := httptest.NewUnstartedServer(serveRecorded(t, r).Config.Handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	got, err := Scan(t.Context(), Options{NoDefaults: true, Ports: []int{port}, Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	want := "http://[::1]:" + strconv.Itoa(port)
	if len(got) != 1 || got[0].BaseURL != want || got[0].Port != port {
		t.Fatalf("Scan = %+v; want vLLM at %s", got, want)
	}
}

func TestScanBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"port zero", Options{Ports: []int{0}}, "bad port 0"},
		{"port too big", Options{Ports: []int{70000}}, "bad port 70000"},
		{"not http", Options{URLs: []string{"ftp://127.0.0.1:21"}}, "scheme must be http or https"},
		{"no host", Options{URLs: []string{"http://:8080"}}, "no host"},
		{"query", Options{URLs: []string{"http://127.0.0.1:8080/?x=1"}}, "no query or fragment"},
		{"credentials", Options{URLs: []string{"http://user:pw@127.0.0.1:8080"}}, "a user or password in the URL is not sent"},
		{"bad port in URL", Options{URLs: []string{"http://127.0.0.1:99999"}}, "bad port"},
		{"negative timeout", Options{Timeout: -time.Second}, "negative Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Scan(t.Context(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Scan = %v, %v; want an error containing %q", got, err, tt.want)
			}
			if got != nil {
				t.Errorf("Scan returned servers with an error: %v", got)
			}
		})
	}
}

func TestProbeBadURL(t *testing.T) {
	t.Parallel()
	_, err := Probe(t.Context(), "unix:///tmp/sock", Options{})
	if err == nil || errors.Is(err, ErrNoServer) {
		t.Fatalf("Probe(bad URL) = %v; want an options error, not ErrNoServer", err)
	}
}

// TestCancel: a cancelled context ends Scan and Probe with a wrapped ctx.Err(),
// even while a candidate hangs.
func TestCancel(t *testing.T) {
	t.Parallel()
	hang := hangingListener(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	got, err := Scan(ctx, Options{NoDefaults: true, URLs: []string{hang}, Timeout: time.Minute})
	if !errors.Is(err, context.Canceled) || got != nil {
		t.Errorf("Scan = %v, %v; want nil, context.Canceled", got, err)
	}
	_, err = Probe(ctx, hang, Options{Timeout: time.Minute})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Probe error = %v; want context.Canceled", err)
	}
}

// TestNoGoroutineLeft: Scan and Probe leave no goroutine behind (our client's
// idle connections are closed). Not parallel, so that the count is ours.
func TestNoGoroutineLeft(t *testing.T) {
	good := serveRecorded(t, loadRecorded(t, "ollama-docs-idle"))
	hang := hangingListener(t)
	before := runtime.NumGoroutine()
	for range 3 {
		if _, err := Scan(t.Context(), Options{NoDefaults: true, URLs: []string{good.URL, hang}, Timeout: 200 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if _, err := Probe(t.Context(), good.URL, Options{Timeout: testTimeout}); err != nil {
			t.Fatal(err)
		}
	}
	// The test servers' own connection goroutines end when the client closes;
	// give them a moment.
	if err := leaktest.Settle(before, 5*time.Second, nil); err != nil {
		t.Error(err)
	}
}

func TestNormalizeURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		wantBase string
		wantPort int
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", 8080},
		{"http://localhost:8080/", "http://127.0.0.1:8080", 8080},
		{"HTTP://LocalHost:11434/v1/", "http://127.0.0.1:11434", 11434},
		{"https://llm.example.internal/v1", "https://llm.example.internal", 443},
		{"http://gpu-box", "http://gpu-box", 80},
		{"http://10.0.0.5:8000/proxy/llama/", "http://10.0.0.5:8000/proxy/llama", 8000},
		{"http://[::1]:8080", "http://[::1]:8080", 8080},
		{" http://127.0.0.1:1234 ", "http://127.0.0.1:1234", 1234},
		// The URL of an endpoint, pasted for the server's, was probed as a
		// base (every answer 404).
		{"http://127.0.0.1:8080/v1/chat/completions", "http://127.0.0.1:8080", 8080},
		{"http://10.0.0.5:8000/proxy/llama/v1/models/", "http://10.0.0.5:8000/proxy/llama", 8000},
		{"http://127.0.0.1:8080/v1/completions", "http://127.0.0.1:8080", 8080},
		{"http://127.0.0.1:8080/chat/completions", "http://127.0.0.1:8080/chat/completions", 8080},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			base, port, err := normalizeURL(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]any{tt.wantBase, tt.wantPort}, []any{base, port}); diff != "" {
				t.Errorf("normalizeURL(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestDefaultCandidates(t *testing.T) {
	t.Parallel()
	cands, err := candidates(Options{Ports: []int{8080, 9999}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cands {
		got = append(got, c.base)
	}
	want := []string{"http://127.0.0.1:8080", "http://127.0.0.1:11434", "http://127.0.0.1:1234", "http://127.0.0.1:8000",
		"http://127.0.0.1:5000", "http://127.0.0.1:1337", "http://127.0.0.1:30000", "http://127.0.0.1:3000",
		"http://127.0.0.1:5001", "http://127.0.0.1:9999"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	none, err := candidates(Options{NoDefaults: true})
	if err != nil || len(none) != 0 {
		t.Errorf("NoDefaults with nothing else: %v, %v; want no candidate", none, err)
	}
}
