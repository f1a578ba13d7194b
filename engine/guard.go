package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// Bounds on what a server may send for one request. A server is measured, not
// trusted: a stream past its budget is cut and the run fails with the reason,
// and a figure no real server can produce is dropped with a warning.
const (
	// StreamBaseBytes is the part of a request's byte budget that does not
	// depend on its max_tokens (headers of the stream, usage and timings chunks).
	StreamBaseBytes = 1 << 20
	// StreamBytesPerToken is the byte budget per output token allowed: a chunk of
	// llama-server with per-token timings is under 1 KiB.
	StreamBytesPerToken = 4 << 10
	// MaxPlausibleTPS bounds a speed a server reports (tokens/s); a larger one is
	// dropped.
	MaxPlausibleTPS = 1e7
	// MaxPlausibleMS bounds a duration a server reports in milliseconds (a year).
	MaxPlausibleMS = 365 * 24 * 3600 * 1e3
	// MaxPlausiblePromptTokens bounds a prompt length a server reports.
	MaxPlausiblePromptTokens = 1 << 26
	// DefaultNoAnswerTimeout replaces the base of a request's deadline (120 s)
	// once the server has left a request without any answer: the time a prompt
	// needs (DefaultTimeoutPer1000Prompt) is still added to it.
	DefaultNoAnswerTimeout = 30 * time.Second
	// DefaultTokenizeTimeout bounds one call of the server's tokenize endpoint.
	DefaultTokenizeTimeout = 30 * time.Second
	// MaxTokenizeBody bounds the answer of the tokenize endpoint (a million
	// token ids fit).
	MaxTokenizeBody = 8 << 20
	// MinTokensPerWord and MaxTokensPerWord bound the tokens per filler word a
	// calibration may learn from the server's counts; outside them the counts
	// are not believed.
	MinTokensPerWord = 0.5
	MaxTokensPerWord = 16
	// MaxTemplateTokens bounds the tokens a chat template may add to a prompt
	// in a calibration learnt from the server's counts.
	MaxTemplateTokens = 8192
)

// ServerError is an HTTP answer of the server under test that is not the
// success a request expects: its status, the URL asked, the start of its body
// (at most MaxErrorBody bytes) and, for a redirect, where it pointed. Use
// errors.As to read it.
type ServerError struct {
	Method   string // "POST"
	URL      string // the URL asked
	Status   int    // the HTTP status
	Body     string // the server's message (an error object's text, else the body), cut
	Location string // the Location header of a redirect, else ""
}

func (e *ServerError) Error() string {
	path := e.URL
	if u, err := url.Parse(e.URL); err == nil && u.Path != "" {
		path = u.Path
	}
	if e.Location != "" {
		return fmt.Sprintf("HTTP %d from %s %s: the server redirects to %s (redirects are not followed: the figures would belong to another server)",
			e.Status, e.Method, path, truncate(e.Location, 200))
	}
	return fmt.Sprintf("HTTP %d from %s %s: %s", e.Status, e.Method, path, e.Body)
}

// newServerError reads the start of a failed answer's body into a ServerError.
func newServerError(resp *http.Response) *ServerError {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody+1))
	e := &ServerError{Status: resp.StatusCode, Body: truncate(errorText(data), MaxErrorBody)}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		e.URL = resp.Request.URL.String()
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		e.Location = resp.Header.Get("Location")
	}
	return e
}

// noRedirect is the CheckRedirect of every client the engine uses: a
// benchmark request is never sent to another URL than the one under test (nor
// is the API key).
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

var (
	errByteBudget  = errors.New("byte budget exceeded")
	errTokenBudget = errors.New("token budget exceeded")
	errNoAnswer    = errors.New("no answer")
)

// budget is what one request may receive.
type budget struct {
	bytes  int64
	tokens int
}

// budgetFor derives a request's budget from its max_tokens: twice the tokens
// asked plus 64 (a count that merely disagrees with the stream is measured and
// judged, not cut: see token_mismatch), and StreamBytesPerToken per token on top
// of StreamBaseBytes.
func budgetFor(maxTokens int) budget {
	if maxTokens <= 0 {
		maxTokens = 1 << 16
	}
	tokens := 2*maxTokens + 64
	return budget{bytes: StreamBaseBytes + int64(tokens)*StreamBytesPerToken, tokens: tokens}
}

// limitedBody stops a stream at its byte budget with errByteBudget.
type limitedBody struct {
	r    io.Reader
	left int64
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errByteBudget
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// plausible reports whether a figure a server sent can be true: finite, not
// negative and at most limit.
func plausible(x, limit float64) bool {
	return !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0 && x <= limit
}

// guard checks what the server reported about a finished request against what
// was asked: token counts past the budget fail the run (bad_response); speeds
// and durations no server can produce are dropped, each with a warning.
func (m *measurement) guard(b budget) {
	if m.err == nil && m.haveUsage && (m.completionTokens > b.tokens || m.completionTokens < 0) {
		m.fail(schema.ErrKindBadResponse, fmt.Errorf("the server reported %d output tokens for at most %d asked: not a believable count",
			m.completionTokens, b.tokens))
	}
	if m.err == nil && m.haveUsage && (m.promptTokens < 0 || m.promptTokens > MaxPlausiblePromptTokens) {
		m.fail(schema.ErrKindBadResponse, fmt.Errorf("the server reported %d prompt tokens: not a believable count", m.promptTokens))
	}
	if m.cum > b.tokens {
		// Per-chunk counts past the budget: never spread latencies over them.
		m.countsUnknown = true
		m.cum = 0
		if m.err == nil {
			m.fail(schema.ErrKindBadResponse, fmt.Errorf("the server's running token count passed the %d tokens allowed", b.tokens))
		}
	}
	if m.cached != nil && (*m.cached < 0 || *m.cached > MaxPlausiblePromptTokens) {
		m.warnings = append(m.warnings, fmt.Sprintf("the server reported %d cached prompt tokens: dropped", *m.cached))
		m.cached = nil
	}
	f := &m.server
	if !f.have {
		return
	}
	for _, x := range []struct {
		name  string
		v     *float64
		limit float64
	}{
		{"server_tps", &f.tps, MaxPlausibleTPS},
		{"server_prefill_tps", &f.prefillTPS, MaxPlausibleTPS},
		{"server_prompt_ms", &f.promptMS, MaxPlausibleMS},
		{"server_predicted_ms", &f.predictedMS, MaxPlausibleMS},
		{"load_s", &f.loadS, MaxPlausibleMS / 1e3},
	} {
		if !plausible(*x.v, x.limit) {
			m.warnings = append(m.warnings, fmt.Sprintf("the server reported %s = %g, which no server can measure: dropped", x.name, *x.v))
			*x.v = 0
		}
	}
	if f.promptN < 0 || f.promptN > MaxPlausiblePromptTokens {
		f.promptN = 0
	}
	if f.predictedN < 0 || f.predictedN > b.tokens {
		f.predictedN = 0
	}
}

// arm sets a request's budget (from its max_tokens) and, when the server left an
// earlier request unanswered, its shortened wait for a first chunk. The
// returned function, deferred by do, stops that wait, counts the request when it
// got no answer and checks the server's figures (guard).
func (e *Engine) arm(ctx context.Context, m *measurement, r request, cancel context.CancelCauseFunc) (*time.Timer, func()) {
	m.asked, m.budget = r.maxTokens, budgetFor(r.maxTokens)
	m.noAnswerWait = e.noAnswerTimeout(r.promptTokens)
	noAnswer := e.noAnswerTimer(r.promptTokens, cancel)
	return noAnswer, func() {
		noAnswer.Stop()
		m.guard(m.budget)
		e.noteAnswer(ctx, m)
	}
}

// noAnswerTimer, once the server has left a request without any answer, ends
// this one with errNoAnswer when no chunk came within DefaultNoAnswerTimeout plus
// the prompt's allowance. Before that it is a stopped timer.
func (e *Engine) noAnswerTimer(promptTokens int, cancel context.CancelCauseFunc) *time.Timer {
	if e.unanswered.Load() == 0 {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return t
	}
	return time.AfterFunc(e.noAnswerTimeout(promptTokens), func() { cancel(errNoAnswer) })
}

func (e *Engine) noAnswerTimeout(promptTokens int) time.Duration {
	d := DefaultNoAnswerTimeout + time.Duration(max(promptTokens, 0))*DefaultTimeoutPer1000Prompt/1000
	return min(d, e.timeout(promptTokens, 0))
}

func (e *Engine) noAnswerText(wait time.Duration) string {
	return fmt.Sprintf("the server did not answer: no chunk within %s (it had already left %d request(s) without any answer)",
		wait.Round(time.Millisecond), e.unanswered.Load())
}

// noteAnswer counts requests the server left without any chunk until their
// deadline; one chunk resets the count.
func (e *Engine) noteAnswer(ctx context.Context, m *measurement) {
	switch {
	case m.events > 0:
		e.unanswered.Store(0)
	case ctx.Err() == nil && m.kind == schema.ErrKindTimeout:
		e.unanswered.Add(1)
	}
}

// Unanswered reports whether the server left a test without any answer: its
// warmup, or every request it sent, timed out before the first token chunk.
func Unanswered(b schema.Benchmark) bool {
	silent := func(r schema.RunSample) bool {
		return r.ErrorKind == schema.ErrKindTimeout && r.Chunks == 0
	}
	if b.WarmupRun != nil && silent(*b.WarmupRun) && len(b.Runs) == 0 {
		return true
	}
	if len(b.Runs) == 0 {
		return false
	}
	for _, r := range b.Runs {
		if !silent(r) {
			return false
		}
	}
	return true
}
