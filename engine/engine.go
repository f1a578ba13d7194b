// Package engine runs Typhon's benchmark plan against one inference server: it
// builds the plan (BuildPlan), sends each test's warmup and timed requests as
// streaming chat completions, times every token as it arrives, and turns the
// measurements into the schema's Benchmark records with statistics beside the
// server's own figures.
//
// # Measurement
//
// Every request records when it was sent, its first response byte, its first token
// of any kind (reasoning included), its first visible content and its last token.
// Tokens are counted from the server's usage and timings, never by counting chunks:
// a chunk can carry several tokens and the first one can carry none (role only).
//
//	ttft_s      = first token - sent
//	tps         = (output_tokens - tokens of the first token chunk) / (last token - first token)
//	              which is (output_tokens - 1) / (last - first) when the first chunk holds one token
//	prefill_tps = prompt tokens the server computed (less cached ones) / ttft_s
//	elapsed_s   = stream finished - sent
//
// First and last token are the first and last chunks that advanced the server's
// token count, visible or not; without per-chunk counts the first chunk is taken
// to hold output_tokens / chunks. A chunk is timed by the network read that
// delivered it. A server_tps that divides all N tokens by the same span (Ollama's
// eval_count/eval_duration) reads N/(N-1) above tps for the same stream;
// llama.cpp's starts its clock before the first token and matches tps.
//
// A successful run whose decode speed cannot be measured honestly keeps its
// figures but is excluded from the averages, with the reason (schema's Excluded
// constants): it stopped early, its prompt was cut, its tokens came in a burst,
// its chunk counts disagree with usage, or a cache served it. The averages and
// Stats (median and 95% confidence interval beside the mean, percentiles only
// where n allows) are over the valid runs.
//
// A concurrency test sends several requests at once in each round; each is
// measured as above, and the round as a whole gives
//
//	aggregate_tps = output tokens of the round's successful requests
//	                / (last request finished - first request sent)
//
// Each timed request starts with a word that differs from the previous request's, so
// no prefix cache can serve it past the chat template's fixed prefix (measured once
// per server in tokens), and asks llama.cpp not to cache the prompt; a run is cold
// when the cached tokens the server reports are at most that prefix.
// Ollama is driven through its native /api/chat so that the context size of the
// plan (num_ctx) is really allocated.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

// Sentinel errors.
var (
	// ErrInvalidMode: the plan mode is not one of the known modes.
	ErrInvalidMode = errors.New("invalid mode")
	// ErrServerUnavailable: the server does not accept requests (Alive).
	ErrServerUnavailable = errors.New("server unavailable")
	// ErrNoTokenizer: the server offers no tokenize endpoint.
	ErrNoTokenizer = errors.New("server has no tokenize endpoint")
)

// Defaults of a zero Engine.
const (
	// DefaultRequestTimeout is the shortest total deadline of one request.
	DefaultRequestTimeout = 120 * time.Second
	// DefaultTimeoutPer1000Prompt is added to the deadline per 1,000 prompt tokens.
	DefaultTimeoutPer1000Prompt = 5 * time.Second
	// DefaultStallTimeout is the longest silence allowed inside a stream once data
	// flows; a longer one ends the request as stream_broken.
	DefaultStallTimeout = 30 * time.Second
	// MinDecodeTPS is the slowest decode speed a request's deadline allows for:
	// each output token asked adds 1/MinDecodeTPS seconds to it.
	MinDecodeTPS = 2.0
	// DefaultSeriesInterval is the spacing of a stress test's time series.
	DefaultSeriesInterval = 500 * time.Millisecond
	// DefaultSeed is the sampling seed sent with every request (temperature 0).
	DefaultSeed = 42
	// MaxErrorBody is how much of a server's error body a run keeps.
	MaxErrorBody = 2048
)

// DefaultTimeout is the default deadline of a request's prompt part for a prompt
// of promptTokens tokens: 120 s plus 5 s per 1,000 prompt tokens. The output
// part, DecodeAllowance, is added to it.
func DefaultTimeout(promptTokens int) time.Duration {
	if promptTokens < 0 {
		promptTokens = 0
	}
	return DefaultRequestTimeout + time.Duration(promptTokens)*DefaultTimeoutPer1000Prompt/1000
}

// Server kinds the engine treats specially (the values detect reports), defined
// in package schema.
const (
	KindLlamaCpp = schema.KindLlamaCpp
	KindOllama   = schema.KindOllama
	KindVLLM     = schema.KindVLLM
	KindSGLang   = schema.KindSGLang
	KindLMStudio = schema.KindLMStudio
	KindOpenAI   = schema.KindOpenAI
)

// Target is the server and model under test.
type Target struct {
	BaseURL string // "http://127.0.0.1:8080", no trailing slash
	Model   string
	// Kind is detect's server kind ("llama.cpp", "ollama", "vllm", "sglang",
	// "lmstudio", "openai-compatible", ...); "" means unknown, treated as
	// openai-compatible.
	Kind schema.Kind
	// APIKey is sent as Authorization: Bearer; never logged or stored.
	APIKey string
	// CtxSize is the context a request really gets (llama-server's per-slot n_ctx;
	// Ollama: what it allocates without num_ctx), 0 when unknown.
	CtxSize int
	// TrainedCtx is the model's trained context (n_ctx_train), 0 when unknown;
	// it bounds Ollama's memory wall search (asked of /api/show when 0).
	TrainedCtx int
}

// Engine runs tests against one Target. A zero Engine with Target set is usable.
// An Engine runs one test at a time; its methods are safe for concurrent use but
// tests run concurrently would measure each other (a concurrency test sends its
// own requests at once on purpose). With the default client,
// connections are kept alive within a test and closed when a call returns, so no
// goroutine of the engine outlives RunTest, Prepare or Alive.
type Engine struct {
	// Client sends the requests; nil means a default client without an overall
	// Timeout (each request has its own deadline).
	Client *http.Client
	Target Target
	// GPU, when set, gives each test a window of GPU figures; nil means gpu_stats
	// stay empty.
	GPU *gpu.Recorder
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
	// RequestTimeout gives a request's total deadline from its prompt length; nil
	// means DefaultTimeout(prompt tokens) + DecodeAllowance(max_tokens).
	RequestTimeout func(promptTokens int) time.Duration
	// StallTimeout is the longest silence allowed inside a stream; 0 means
	// DefaultStallTimeout.
	StallTimeout time.Duration
	// SeriesInterval is the spacing of a stress test's time series; 0 means
	// DefaultSeriesInterval.
	SeriesInterval time.Duration
	// WallBudget bounds the time of a memory wall search; 0 means
	// DefaultWallBudget.
	WallBudget time.Duration

	mu       sync.Mutex
	prepared bool
	calErr   error // the calibration's error, once prepared
	cal      calibration
	notes    []string // said once per test about how prompts were sized
	nonce    nonceSource
	client   *http.Client
	// unanswered counts the requests in a row that got no chunk before their
	// deadline (see DefaultNoAnswerTimeout).
	unanswered atomic.Int32
	// clock, when set (tests), stamps the chunks instead of time.Now.
	clock func() time.Time
	// afterRun, when set (tests), sees every request's measurement.
	afterRun func(warmup bool, m *measurement, rs schema.RunSample)
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

func (e *Engine) httpClient() *http.Client {
	if e.Client != nil {
		// The caller's client, with redirects never followed.
		c := *e.Client
		c.CheckRedirect = noRedirect
		return &c
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Compression would make the transport buffer a stream.
		tr.DisableCompression = true
		// Every user of a load level keeps its connection between requests.
		tr.MaxIdleConnsPerHost = DefaultMaxInFlight
		// Requests are small and answers are read through the stream's own
		// buffer: small transport buffers keep a thousand streams light. 4 KiB
		// to read (net/http's default) takes about ten queued chunks a system
		// call when a stream outruns the client; 2 KiB took half as many.
		tr.WriteBufferSize, tr.ReadBufferSize = 1<<10, 4<<10
		// Chunks are stamped with the network read that brought them.
		tr.DialContext = stampDial(tr.DialContext)
		e.client = &http.Client{Transport: tr, CheckRedirect: noRedirect}
	}
	return e.client
}

// closeIdle closes the default client's idle connections, so that no connection
// goroutine outlives a call. A caller's own Client is left alone.
func (e *Engine) closeIdle() {
	if e.Client != nil {
		return
	}
	e.mu.Lock()
	c := e.client
	e.mu.Unlock()
	if c != nil {
		c.CloseIdleConnections()
	}
}

// timeout is a request's deadline from the work it asks for: RequestTimeout when
// set, else the prompt's part (DefaultTimeout) plus maxTokens at MinDecodeTPS
// (DecodeAllowance). Once tokens flow, the stall timer also ends a stream that
// stops.
func (e *Engine) timeout(promptTokens, maxTokens int) time.Duration {
	if e.RequestTimeout != nil {
		if d := e.RequestTimeout(promptTokens); d > 0 {
			return d
		}
	}
	return DefaultTimeout(promptTokens) + DecodeAllowance(maxTokens)
}

// DecodeAllowance is the time a request's deadline allows for maxTokens output
// tokens: MinDecodeTPS tokens per second.
func DecodeAllowance(maxTokens int) time.Duration {
	if maxTokens <= 0 {
		return 0
	}
	return time.Duration(float64(maxTokens) / MinDecodeTPS * float64(time.Second))
}

func (e *Engine) stallTimeout() time.Duration {
	if e.StallTimeout > 0 {
		return e.StallTimeout
	}
	return DefaultStallTimeout
}

func (e *Engine) seriesInterval() time.Duration {
	if e.SeriesInterval > 0 {
		return e.SeriesInterval
	}
	return DefaultSeriesInterval
}

func (e *Engine) kind() schema.Kind {
	switch k := strings.ToLower(string(e.Target.Kind)); {
	case k == "":
		return KindOpenAI
	case strings.HasPrefix(k, "llama"):
		return KindLlamaCpp
	default:
		return schema.Kind(k)
	}
}

func (e *Engine) baseURL() string { return strings.TrimRight(e.Target.BaseURL, "/") }

func (e *Engine) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, e.baseURL()+path, body)
	if err != nil {
		return nil, fmt.Errorf("engine: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	// A server may close a kept-alive connection after a streamed answer
	// (llama-server does, although it answers "Connection: keep-alive"). Marking
	// the request replayable lets net/http resend it on a fresh connection when a
	// reused one turns out closed before any byte of the answer came back. A nil
	// value means the header itself is not sent.
	req.Header["X-Idempotency-Key"] = nil
	if e.Target.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.Target.APIKey)
	}
	return req, nil
}

// Alive reports whether the server accepts requests: nil when it answers its
// health (llama.cpp), root (Ollama) or model list (others) endpoint, an error
// wrapping ErrServerUnavailable otherwise. It waits at most 5 s.
func (e *Engine) Alive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	defer e.closeIdle()
	path := "/v1/models"
	switch e.kind() {
	case KindLlamaCpp:
		path = "/health"
	case KindOllama:
		path = "/api/version"
	}
	req, err := e.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		kind, msg := classifyTransportError(ctx, err, req.URL.Host)
		return fmt.Errorf("%w: %s: %s", ErrServerUnavailable, kind, msg)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden ||
		resp.StatusCode == http.StatusNotFound:
		// It answers; the endpoint is just not open to us.
		if path != "/health" {
			return nil
		}
	}
	return fmt.Errorf("%w: %w", ErrServerUnavailable, newServerError(resp))
}

// refusedNow reports whether a TCP connection to host is refused right now.
func refusedNow(ctx context.Context, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return isRefused(err)
	}
	c.Close()
	return false
}
