package detect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// answer is what one request to a candidate gave.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error // transport error, timeout, answer too large; status is 0
	// models holds the answer read as an OpenAI model list, decoded once
	// however many rules read it; nil for answers not from the network.
	models *modelsMemo
}

type modelsMemo struct {
	once sync.Once
	list oaiList
	ok   bool
}

// ok reports a 2xx answer read in full.
func (a answer) ok() bool { return a.err == nil && a.status >= 200 && a.status < 300 }

// describe says in a few words what the answer was, for debug output.
func (a answer) describe() string {
	if a.err != nil {
		return a.err.Error()
	}
	ct := a.header.Get("Content-Type")
	if ct == "" {
		ct = "no content type"
	}
	if a.status >= 300 && a.status < 400 {
		return fmt.Sprintf("HTTP %d to %s (not followed)", a.status, location(a))
	}
	return fmt.Sprintf("HTTP %d, %s, %d bytes", a.status, cutText(ct, 64), len(a.body))
}

// source gives the answers of one candidate. The network one fetches and caches;
// tests and the fuzzer use a map.
type source interface {
	get(ctx context.Context, path string) answer
	post(ctx context.Context, path string, body []byte) answer
}

// prober holds what every probe of one Scan or Probe shares.
type prober struct {
	client  *http.Client
	direct  bool // our own client: the pre-dial and the [::1] fallback apply
	timeout time.Duration
	apiKey  string
	log     *slog.Logger
	exclude map[string]bool
	reading chan struct{} // a slot per candidate being read (maxReading)
}

// maxReading is how many candidates a scan reads at once; closed ports cost a
// dial and take no slot.
const maxReading = 5

func newProber(opts Options) *prober {
	p := &prober{
		client:  opts.Client,
		timeout: opts.Timeout,
		apiKey:  opts.APIKey,
		log:     opts.Logger,
		exclude: excludeSet(opts.Exclude),
		reading: make(chan struct{}, maxReading),
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.client == nil {
		p.direct = true
		p.client = &http.Client{
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           (&net.Dialer{Timeout: p.timeout}).DialContext,
				TLSHandshakeTimeout:   p.timeout,
				ResponseHeaderTimeout: p.timeout,
				MaxIdleConnsPerHost:   8,
				IdleConnTimeout:       5 * time.Second,
			},
			// A redirect is an answer like any other: never followed, so a loop
			// costs one request.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return p
}

func (p *prober) excluded(base string) bool { return p.exclude[base] }

// close drops the idle connections of our own client, so that no connection
// goroutine outlives Scan or Probe. A caller's client is left alone.
func (p *prober) close() {
	if p.direct {
		p.client.CloseIdleConnections()
	}
}

// dialable reports whether something accepts TCP connections at base. Only used
// with our own client, to skip closed ports with one dial instead of a dozen
// failed requests.
func (p *prober) dialable(ctx context.Context, base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return err
	}
	return conn.Close()
}

// netSource fetches answers from one base URL, at most once per request.
type netSource struct {
	p      *prober
	base   string
	auth   bool // send the API key
	mu     sync.Mutex
	cache  map[string]*fetchOnce
	hidden func(string) string // scrubs the API key out of error texts
}

type fetchOnce struct {
	once sync.Once
	a    answer
}

func (p *prober) source(base string, auth bool) *netSource {
	s := &netSource{p: p, base: base, auth: auth && p.apiKey != "", cache: map[string]*fetchOnce{}}
	s.hidden = func(t string) string {
		if p.apiKey == "" {
			return t
		}
		return strings.ReplaceAll(t, p.apiKey, "[api key]")
	}
	return s
}

func (s *netSource) get(ctx context.Context, path string) answer {
	return s.do(ctx, http.MethodGet, path, nil)
}

func (s *netSource) post(ctx context.Context, path string, body []byte) answer {
	return s.do(ctx, http.MethodPost, path, body)
}

func (s *netSource) do(ctx context.Context, method, path string, body []byte) answer {
	key := method + " " + path + " " + string(body)
	s.mu.Lock()
	f, ok := s.cache[key]
	if !ok {
		f = &fetchOnce{}
		s.cache[key] = f
	}
	s.mu.Unlock()
	f.once.Do(func() { f.a = s.fetch(ctx, method, path, body) })
	return f.a
}

// prefetch fetches paths in parallel so that later gets are served from the
// cache.
func (s *netSource) prefetch(ctx context.Context, paths []string) {
	var wg sync.WaitGroup
	for _, path := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.get(ctx, path)
		}()
	}
	wg.Wait()
}

func (s *netSource) fetch(ctx context.Context, method, path string, body []byte) answer {
	ctx, cancel := context.WithTimeout(ctx, s.p.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Accept", "application/json, text/plain;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", "typhon-detect")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.auth {
		req.Header.Set("Authorization", "Bearer "+s.p.apiKey)
	}
	resp, err := s.p.client.Do(req)
	if err != nil {
		return answer{err: errors.New(s.hidden(shortErr(err, s.p.timeout)))}
	}
	defer resp.Body.Close()
	data, err := readAnswer(resp)
	if err != nil {
		return answer{status: 0, header: resp.Header, err: fmt.Errorf("reading the answer: %s", shortErr(err, s.p.timeout))}
	}
	if len(data) > MaxAnswerBytes {
		return answer{header: resp.Header, err: fmt.Errorf("answer larger than %d bytes", MaxAnswerBytes)}
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: data, models: &modelsMemo{}}
}

// shortErr turns a transport error into a short reason.
func shortErr(err error, timeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// readAnswer reads at most MaxAnswerBytes+1 bytes of a body, in a buffer sized
// from Content-Length when it is given (io.ReadAll doubles its buffer, leaving
// twice a large answer to collect).
func readAnswer(resp *http.Response) ([]byte, error) {
	r := io.LimitReader(resp.Body, MaxAnswerBytes+1)
	if n := resp.ContentLength; n > 0 && n <= MaxAnswerBytes {
		buf := bytes.NewBuffer(make([]byte, 0, n+bytes.MinRead))
		_, err := buf.ReadFrom(r)
		return buf.Bytes(), err
	}
	return io.ReadAll(r)
}

// slowest names the paths asked of s that gave no answer in time, for the
// reason of a candidate that ran out of its budget.
func (s *netSource) slowest() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var slow []string
	for key, f := range s.cache {
		if f.a.err != nil && strings.HasPrefix(f.a.err.Error(), "no answer within") {
			slow = append(slow, strings.TrimSpace(key))
		}
	}
	if len(slow) == 0 {
		return "none timed out"
	}
	slices.Sort(slow)
	return strings.Join(slow[:min(len(slow), 8)], ", ")
}
