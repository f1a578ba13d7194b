package detect

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// probeReason probes url and returns the reason it was not reported; it fails
// the test when a server was reported.
func probeReason(t *testing.T, url string) string {
	t.Helper()
	s, err := Probe(t.Context(), url, Options{Timeout: testTimeout})
	var pe *ProbeError
	if !errors.As(err, &pe) {
		t.Fatalf("Probe = %+v, %v; want a *ProbeError", s, err)
	}
	return pe.Reason
}

// TestProbeCatchAll: a server that answers every path with the same 2xx body
// carries every rule's markers at once; one answer read under several paths is
// not two answers that agree. It was reported as vLLM, SGLang or LM Studio.
func TestProbeCatchAll(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"vllm-shaped":  `{"object":"list","data":[{"id":"m1","owned_by":"vllm","max_model_len":4096}],"version":"1.0"}`,
		"every-marker": `{"object":"list","data":[{"id":"m1"}],"models":[{"name":"m1"}],"version":"1","status":"ok","default_generation_settings":{"n_ctx":4096},"total_slots":1,"model_path":"/m"}`,
		"lmstudio":     `{"data":[],"models":[]}`,
		"html":         `<!doctype html><html><body>app</body></html>`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte(body))
			}))
			t.Cleanup(srv.Close)
			if why := probeReason(t, srv.URL); !strings.Contains(why, "answers every path alike") {
				t.Fatalf("reason %q; want it to say the server answers every path alike", why)
			}
		})
	}
}

// TestProbeHugeModelList: a /v1/models of a hundred thousand names (the most
// one answer may hold) was deduplicated name by name against the list, minutes
// of CPU for one candidate; the list is now cut to MaxModels, repeats dropped,
// and Settings["models_listed"] says how many the server listed.
func TestProbeHugeModelList(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(`{"object":"list","data":[{"id":"m0"},{"id":"m0"}`)
	n := 1
	for ; b.Len() < MaxAnswerBytes-32; n++ {
		fmt.Fprintf(&b, `,{"id":"%x"}`, n)
	}
	b.WriteString(`]}`)
	body := b.String()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			_, _ = w.Write([]byte(body))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	s, err := Probe(t.Context(), srv.URL, Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Models) != MaxModels || s.Models[0] != "m0" || s.Models[1] != "1" {
		t.Fatalf("%d models, first %q; want %d, m0 then 1 (the repeat dropped)", len(s.Models), s.Models[:2], MaxModels)
	}
	if got, want := s.Settings["models_listed"], strconv.Itoa(n); got != want {
		t.Fatalf("models_listed = %q; want %q", got, want)
	}
}

// TestProbeLocalhostIPv6Only: a URL naming "localhost" of a server listening on
// [::1] only (as a server that resolves localhost to ::1 binds) was said to
// have nothing listening: localhost was tried as 127.0.0.1 alone.
func TestProbeLocalhostIPv6Only(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if probe, err := net.Listen("tcp", "127.0.0.1:"+port); err == nil {
		probe.Close()
	} else {
		ln.Close()
		t.Skipf("port %s is taken on 127.0.0.1", port)
	}
	srv := httptest.NewUnstartedServer(serveRecorded(t, loadRecorded(t, "vllm")).Config.Handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	want := "http://[::1]:" + port
	for _, u := range []string{"http://localhost:" + port, "http://LocalHost:" + port + "/v1/"} {
		s, err := Probe(t.Context(), u, Options{Timeout: testTimeout})
		if err != nil || s.BaseURL != want || s.Kind != KindVLLM {
			t.Fatalf("Probe(%s) = %s at %s, %v; want vLLM at %s", u, s.Kind, s.BaseURL, err, want)
		}
	}
	got, err := Scan(t.Context(), Options{NoDefaults: true, URLs: []string{"http://localhost:" + port}, Timeout: testTimeout})
	if err != nil || len(got) != 1 || got[0].BaseURL != want {
		t.Fatalf("Scan = %+v, %v; want vLLM at %s", got, err, want)
	}
}

// TestProbeURLPasswordNotShown: a base URL with a user and password was
// refused with the password quoted in the error (which lands in logs, job
// errors and records); the error now hides it and says what to do instead.
func TestProbeURLPasswordNotShown(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"http://user:s3cret@127.0.0.1:8080",
		"http://user:s3cret@127.0.0.1:notaport",
		"https://s3cret@127.0.0.1/v1",
		"http://user:s3cret@127.0.0.1:8080/x?y=1",
	} {
		_, err := Probe(t.Context(), u, Options{Timeout: testTimeout})
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("Probe(%s) error %v; want one that hides the password", u, err)
		}
		_, err = Scan(t.Context(), Options{NoDefaults: true, URLs: []string{u}})
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Scan(%s) error %v; want one that hides the password", u, err)
		}
	}
}

// TestProbeSaysWhy: what a candidate answered instead of an LLM API is said in
// words. A redirect gave only "HTTP 302, text/html, 52 bytes" for each path
// (not where to), a proxy whose server is down four times "HTTP 502 ...", a
// /v1/models of the wrong shape only its size; a model list after a UTF-8 byte
// order mark was not read at all.
func TestProbeSaysWhy(t *testing.T) {
	t.Parallel()
	only := func(path, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == path {
				_, _ = w.Write([]byte(body))
				return
			}
			http.NotFound(w, r)
		}
	}
	tests := []struct {
		name string
		h    http.HandlerFunc
		want string
	}{
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:9"+r.URL.Path, http.StatusFound)
		}, `every path answered HTTP 302 Found (/v1/models to "http://127.0.0.1:9/v1/models"): redirects are not followed`},
		{"proxy 502", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html><head><title>502 Bad Gateway</title></head></html>"))
		}, "every path answered HTTP 502 Bad Gateway (HTTP 502, text/html, 56 bytes): a proxy whose server is down"},
		{"bare array", only("/v1/models", `[{"id":"m1"}]`), "/v1/models: HTTP 200, text/plain; charset=utf-8, 13 bytes (a JSON array, not an object with a data array)"},
		{"numeric id", only("/v1/models", `{"data":[{"id":"m1"},{"id":7}]}`), "(a model without a string id)"},
		{"no data", only("/v1/models", `{"object":"list","models":["m1"]}`), "(no data array)"},
		{"nested past JSON's depth", only("/v1/models", strings.Repeat("[", 20000)), "(broken JSON)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.h)
			t.Cleanup(srv.Close)
			if why := probeReason(t, srv.URL); !strings.Contains(why, tt.want) {
				t.Fatalf("reason %q; want it to hold %q", why, tt.want)
			}
		})
	}
	srv := httptest.NewServer(only("/v1/models", "\xef\xbb\xbf"+`{"object":"list","data":[{"id":"m1"}]}`))
	t.Cleanup(srv.Close)
	if s, err := Probe(t.Context(), srv.URL, Options{Timeout: testTimeout}); err != nil || s.LoadedModel != "" || len(s.Models) != 1 {
		t.Fatalf("model list after a byte order mark: %+v, %v; want an OpenAI-compatible server listing m1", s, err)
	}
}

// TestScanSkipped: a scan said nothing of an address that answered but was not
// an LLM server, nor of a URL it was given that had nothing listening (only a
// debug line said why). Options.Skipped now gets each, in port order, with the
// reason; closed default-style ports and identified servers are not skips.
func TestScanSkipped(t *testing.T) {
	t.Parallel()
	catchAll := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(catchAll.Close)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	vllm := serveRecorded(t, loadRecorded(t, "vllm"))
	closed := closedPort(t)
	var got []Skip
	servers, err := Scan(t.Context(), Options{
		NoDefaults: true,
		Ports:      []int{portOf(t, catchAll), portOf(t, vllm.Server), closed},
		URLs:       []string{proxy.URL + "/v1", "http://127.0.0.1:" + strconv.Itoa(closed) + "/x"},
		Timeout:    testTimeout,
		Skipped:    func(s Skip) { got = append(got, s) },
	})
	if err != nil || len(servers) != 1 || servers[0].Kind != KindVLLM {
		t.Fatalf("Scan = %+v, %v; want the vLLM server alone", servers, err)
	}
	want := map[string]string{
		catchAll.URL: "answers every path alike",
		proxy.URL:    "every path answered HTTP 502",
		"http://127.0.0.1:" + strconv.Itoa(closed) + "/x": "nothing listening",
	}
	if len(got) != len(want) {
		t.Fatalf("skipped %+v; want %d: %v", got, len(want), want)
	}
	for i, s := range got {
		if !strings.Contains(s.Reason, want[s.URL]) {
			t.Errorf("skip %s: %q; want it to hold %q", s.URL, s.Reason, want[s.URL])
		}
		if i > 0 {
			_, p0, _ := normalizeURL(got[i-1].URL)
			_, p1, _ := normalizeURL(s.URL)
			if p0 > p1 {
				t.Errorf("skips out of port order: %+v", got)
			}
		}
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestScanReadsFewAtOnce: every candidate was read at once, each holding a
// dozen answers of up to MaxAnswerBytes and their decoding: twelve servers
// answering 1 MiB to every path took the scan's heap up by 456 MB. At most
// maxReading candidates are read at once now (the same twelve: 172-179 MB).
func TestScanReadsFewAtOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	active := map[int]int{} // server -> requests in flight
	most := 0
	var ports []int
	for i := range 3 * maxReading {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			active[i]++
			most = max(most, len(active))
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			_, _ = w.Write([]byte(`{"path":"` + r.URL.Path + `","data":[{"id":"m"}]}`))
			mu.Lock()
			if active[i]--; active[i] == 0 {
				delete(active, i)
			}
			mu.Unlock()
		}))
		t.Cleanup(srv.Close)
		ports = append(ports, portOf(t, srv))
	}
	got, err := Scan(t.Context(), Options{NoDefaults: true, Ports: ports, Timeout: 5 * time.Second})
	if err != nil || len(got) != len(ports) {
		t.Fatalf("Scan found %d of %d servers: %v", len(got), len(ports), err)
	}
	if most > maxReading {
		t.Fatalf("%d servers were read at once; want at most %d", most, maxReading)
	}
}

// TestProbeHangsOnFollowUps: a server that answers the first paths with the
// markers of several kinds and leaves every other path hanging cost one
// timeout per path a rule asked next, one after the other (9 such servers:
// 10.7 s with the reading slots, past POST /scan's 10 s); it was then reported
// from the answers it did give. A candidate now gets four timeouts in all and
// is skipped as too slow, naming the paths that did not answer.
func TestProbeHangsOnFollowUps(t *testing.T) {
	t.Parallel()
	first := map[string]string{
		"/api/version":   `{"version":"0.1"}`,
		"/v1/models":     `{"object":"list","data":[{"id":"m1","owned_by":"llamacpp","status":{"value":"loaded"}}]}`,
		"/model_info":    `{"model_path":"/m"}`,
		"/info":          `{"model_id":"m","version":"1","max_total_tokens":5}`,
		"/api/v0/models": `{"data":[]}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, ok := first[r.URL.Path]; ok {
			_, _ = w.Write([]byte(b))
			return
		}
		if slices.Contains(firstPaths, r.URL.Path) || r.URL.Path == canaryPath {
			http.NotFound(w, r)
			return
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	s, err := Probe(t.Context(), srv.URL, Options{Timeout: 200 * time.Millisecond})
	var pe *ProbeError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "answered too slowly: not identified within 800ms") ||
		!strings.Contains(pe.Reason, "GET /api/tags") {
		t.Fatalf("Probe = %+v, %v; want it skipped as too slow, naming /api/tags", s, err)
	}
}

// TestProbeIPv6Zone: a base URL with an IPv6 zone ("http://[::1%25lo]:P")
// was normalised with the zone unescaped, and every request failed with
// `invalid URL escape "%lo"`.
func TestProbeIPv6Zone(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	if _, err := net.InterfaceByName("lo"); err != nil {
		ln.Close()
		t.Skipf("no interface lo: %v", err)
	}
	srv := httptest.NewUnstartedServer(serveRecorded(t, loadRecorded(t, "vllm")).Config.Handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	u := "http://[::1%25lo]:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	s, err := Probe(t.Context(), u+"/v1", Options{Timeout: testTimeout})
	if err != nil || s.Kind != KindVLLM || s.BaseURL != u {
		t.Fatalf("Probe(%s) = %s at %s, %v; want vLLM at %s", u, s.Kind, s.BaseURL, err, u)
	}
}
