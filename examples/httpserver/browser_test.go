package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/internal/testbed"
)

// seen records the requests a handler answered and their statuses.
type seen struct {
	mu   sync.Mutex
	reqs []string // "METHOD path host origin -> status"
}

func (s *seen) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, status: 200}
		h.ServeHTTP(rec, r)
		s.mu.Lock()
		s.reqs = append(s.reqs, fmt.Sprintf("%s %s host=%s origin=%s -> %d", r.Method, r.URL.Path, r.Host, r.Header.Get("Origin"), rec.status))
		s.mu.Unlock()
	})
}

func (s *seen) find(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.reqs {
		if strings.HasPrefix(r, prefix) {
			out = append(out, r)
		}
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// chromium runs headless Chromium on url and returns the DOM it dumps.
func chromium(t *testing.T, url string, extra ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if testbed.Required() {
			t.Fatalf("no chromium (bash scripts/testbed.sh installs it): %v", err)
		}
		t.Skipf("no chromium (bash scripts/testbed.sh installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=5000", "--dump-dom"}, extra...)
	out, err := exec.CommandContext(ctx, bin, append(args, url)...).Output()
	if err != nil {
		t.Fatalf("chromium %s: %v", url, err)
	}
	return string(out)
}

// TestBrowserCannotStartJob (issue 14, defect 2): a page served on another
// loopback port sends a cross-origin "simple" POST /jobs/run from headless
// Chromium; the server refuses it (403) and no job is queued. A page reached
// under a foreign host name (DNS rebinding, simulated by Chromium's host
// resolver rules) is refused too, so it cannot read the jobs.
func TestBrowserCannotStartJob(t *testing.T) {
	t.Parallel()
	mgr := &typhon.Manager{Runner: typhon.Runner{DataDir: t.TempDir()}} // no Run loop: a job would stay pending
	var log seen
	api := httptest.NewServer(log.wrap(newAPI(mgr, "", slog.New(slog.DiscardHandler))))
	defer api.Close()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><html><body><p id="out">waiting</p><script>
fetch(%q, {method: "POST", mode: "no-cors"})
  .then(() => { document.getElementById("out").textContent = "post sent"; })
  .catch(e => { document.getElementById("out").textContent = "post failed: " + e; });
</script></body></html>`, api.URL+"/jobs/run?mode=quick")
	}))
	defer page.Close()

	dom := chromium(t, page.URL)
	posts := log.find("POST /jobs/run")
	t.Logf("page: %s; the API saw: %v", strings.TrimSpace(dom[strings.Index(dom, "<p"):min(len(dom), strings.Index(dom, "<p")+40)]), posts)
	if len(posts) == 0 {
		t.Fatalf("the browser's POST never reached the server (the test proves nothing); DOM:\n%s", dom)
	}
	for _, p := range posts {
		if !strings.HasSuffix(p, "-> 403") || !strings.Contains(p, "origin="+page.URL) {
			t.Errorf("cross-origin POST answered %q, want 403 for origin %s", p, page.URL)
		}
	}
	if jobs, total := mgr.Page(0, 0); total != 0 {
		t.Errorf("a cross-origin page queued %d job(s): %+v", total, jobs)
	}

	port := api.URL[strings.LastIndex(api.URL, ":")+1:]
	dom = chromium(t, "http://rebind.test:"+port+"/jobs", "--host-resolver-rules=MAP rebind.test 127.0.0.1")
	gets := log.find("GET /jobs host=rebind.test")
	if len(gets) == 0 || !strings.HasSuffix(gets[0], "-> 403") {
		t.Errorf("GET /jobs under a foreign host: %v, want 403", gets)
	}
	if !strings.Contains(dom, "not this server") {
		t.Errorf("the rebound page read:\n%.400s", dom)
	}
}
