package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/typhonbench/typhon/internal/sse"
	"github.com/typhonbench/typhon/schema"
)

// request is one chat completion to send.
type request struct {
	user         string // the user message
	maxTokens    int
	ctxSize      int  // Ollama num_ctx; 0 leaves the server's default
	warm         bool // let the server cache the prompt
	probe        bool // a calibration probe: one token, nothing more
	promptTokens int  // predicted prompt length, for the deadline
	// onTokens, when set, is called at each chunk that carries tokens with the
	// number of output tokens so far.
	onTokens func(at time.Time, tokens int)
}

// tokenChunk is one chunk that carried generated tokens: 16 bytes, so that a
// thousand streams of long answers stay light.
type tokenChunk struct {
	at time.Duration // when it arrived, since the first token chunk (firstToken)
	n  int           // tokens in the chunk; 0 when the server did not say
}

// chunkPrealloc bounds the token chunks a request reserves room for at once.
const chunkPrealloc = 256

// serverFigures are what the server reported about the request.
type serverFigures struct {
	have        bool
	tps         float64
	prefillTPS  float64
	promptMS    float64
	predictedMS float64
	promptN     int
	predictedN  int
	loadS       float64
}

// measurement is everything one request recorded.
type measurement struct {
	start        time.Time // sent (wall and monotonic)
	firstByte    time.Time
	headers      time.Time
	firstToken   time.Time
	firstContent time.Time
	lastToken    time.Time
	lastEvent    time.Time
	end          time.Time

	events        int // chunks received
	chunks        []tokenChunk
	countsUnknown bool // some token chunk came without a token count
	cum           int  // the last cumulative output-token count the server gave
	hidden        int  // tokens counted in chunks that carried no text

	haveUsage        bool
	promptTokens     int
	completionTokens int
	cached           *int
	finish           string
	finished         bool
	server           serverFigures
	// serverFirst and serverLast are the server's own stamps (Ollama's
	// created_at) of the first and last token chunks.
	serverFirst, serverLast time.Time

	status int // HTTP status
	kind   string
	err    error
	// warnings are figures of the server that were dropped (guard).
	warnings []string
	asked    int // max_tokens of the request
	// noAnswerWait is how long the request waits for its first chunk once the
	// server has left one unanswered.
	noAnswerWait time.Duration
	budget       budget     // what the request may receive
	countBack    bool       // the server's running count went backwards
	bodyBytes    int64      // the bytes of the body read
	conn         *stampConn // the connection, when it stamps its reads
}

func (m *measurement) fail(kind string, err error) {
	m.kind, m.err = kind, err
}

// tokenEvent records a chunk. cum is the cumulative output-token count the chunk
// carries (-1 when none); isToken says it carries generated text of any kind,
// isContent that the text is visible content.
func (m *measurement) tokenEvent(at time.Time, isToken, isContent bool, cum int) {
	n := 0
	if cum >= 0 {
		n, m.countBack = max(cum-m.cum, 0), m.countBack || cum < m.cum
		m.cum = max(m.cum, cum)
	}
	if !isToken && n == 0 {
		return
	}
	if !isToken {
		// A chunk without text that advances the server's count holds tokens
		// (special tokens, text past the end with ignore_eos): it is part of the
		// decode span.
		m.hidden += n
	}
	if n == 0 {
		m.countsUnknown = true
	}
	if m.firstToken.IsZero() {
		m.firstToken = at
		if m.chunks == nil {
			m.chunks = make([]tokenChunk, 0, min(max(m.asked, 1), chunkPrealloc))
		}
	}
	if isContent && m.firstContent.IsZero() {
		m.firstContent = at
	}
	m.lastToken = at
	m.chunks = append(m.chunks, tokenChunk{at: at.Sub(m.firstToken), n: n})
}

// tokensSoFar is the output-token count at the latest chunk.
func (m *measurement) tokensSoFar() int {
	if !m.countsUnknown && m.cum > 0 {
		return m.cum
	}
	return len(m.chunks)
}

var (
	errDeadline = errors.New("request deadline passed")
	errStall    = errors.New("stream stalled")
)

// do sends one streaming request and measures it. It returns when the stream has
// finished, failed, or ctx is done.
func (e *Engine) do(ctx context.Context, r request) *measurement {
	m := &measurement{}
	path, body, accept := e.requestBody(r)
	timeout := e.timeout(r.promptTokens, r.maxTokens)

	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deadline := time.AfterFunc(timeout, func() { cancel(errDeadline) })
	defer deadline.Stop()
	noAnswer, guarded := e.arm(ctx, m, r, cancel)
	defer guarded()

	var firstByte atomic.Int64 // since start, ns
	var conn atomic.Pointer[stampConn]
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() {
		// The network read that brought the byte, as for the chunks.
		firstByte.CompareAndSwap(0, int64(connRead(conn.Load(), m.start).Sub(m.start)))
	}, GotConn: func(info httptrace.GotConnInfo) {
		if c, ok := info.Conn.(*stampConn); ok {
			conn.Store(c)
		}
	}}
	req, err := e.newRequest(httptrace.WithClientTrace(rctx, trace), http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		m.fail(schema.ErrKindBadResponse, err)
		return m
	}
	req.Header.Set("Accept", accept)
	m.start = time.Now()
	resp, err := e.httpClient().Do(req)
	defer func() {
		if m.end.IsZero() {
			m.end = time.Now()
		}
		if fb := firstByte.Load(); fb > 0 {
			m.firstByte = m.start.Add(time.Duration(fb))
		}
	}()
	if err != nil {
		m.end = time.Now()
		kind, msg := e.classifyTransport(ctx, rctx, err, req.URL.Host, timeout, m)
		m.fail(kind, errors.New(msg))
		return m
	}
	m.headers, m.conn = time.Now(), conn.Load()
	defer resp.Body.Close()
	m.status = resp.StatusCode
	if kind, err := responseError(resp); err != nil {
		m.end = time.Now()
		m.fail(kind, err)
		return m
	}
	e.readBody(ctx, rctx, cancel, resp.Body, m, r, noAnswer, timeout)
	return m
}

// readBody reads a streaming answer into m within the request's budget, ending
// it at a stall once data flows (or, once the server left a request
// unanswered, when no chunk comes within noAnswer), and names how it ended.
func (e *Engine) readBody(ctx, rctx context.Context, cancel context.CancelCauseFunc, body io.Reader, m *measurement,
	r request, noAnswer *time.Timer, timeout time.Duration) {
	// Once data flows, a silence longer than the stall timeout ends the stream
	// (stream_broken). Before the first chunk only the deadline counts: servers
	// send their headers before the prefill.
	stall := e.stallTimeout()
	watch := newStallWatch(stall, cancel)
	defer watch.stop()
	// alive is called at each chunk with the time (time.Now) of the read that
	// delivered it.
	// Once tokens flow, only chunks that follow progress (a token, the finish)
	// feed the watch: chunks without tokens sent forever end as a stall too.
	lastTokens := 0
	alive := func(read time.Time) {
		m.lastEvent = read
		if m.events == 0 {
			noAnswer.Stop()
		}
		tokens := m.tokensSoFar()
		if tokens > m.budget.tokens {
			cancel(errTokenBudget)
		}
		if tokens == 0 || tokens > lastTokens || m.finish != "" {
			watch.seen(read)
		}
		lastTokens = tokens
	}

	var rerr error
	stream := &limitedBody{r: body, left: m.budget.bytes}
	if e.kind() == KindOllama {
		rerr = e.readOllama(stream, m, r, alive)
	} else {
		rerr = e.readOpenAI(stream, m, r, alive)
	}
	m.end, m.bodyBytes = time.Now(), m.budget.bytes-stream.left
	cause := context.Cause(rctx)
	switch {
	case rerr == nil || m.err != nil:
	case m.finished && ctx.Err() == nil && (errors.Is(cause, errStall) || errors.Is(cause, errDeadline)):
		// The completion had finished; the server only left the stream open.
		m.end = m.lastEvent
	default:
		kind, msg := e.classifyStream(ctx, rctx, rerr, m, timeout, stall)
		m.fail(kind, errors.New(msg))
	}
	if m.err == nil && !m.finished {
		m.fail(schema.ErrKindStreamBroken, fmt.Errorf("the stream ended before the completion finished (%d chunks, %d tokens so far)",
			m.events, m.tokensSoFar()))
	}
}

// requestBody builds the request for the server kind: Ollama's native /api/chat
// (so num_ctx is allocated), else an OpenAI-compatible streaming chat completion
// with the extras each server honours.
func (e *Engine) requestBody(r request) (path string, body []byte, accept string) {
	msgs := []map[string]string{{"role": "user", "content": r.user}}
	kind := e.kind()
	if kind == KindOllama {
		opts := map[string]any{"num_predict": r.maxTokens, "temperature": 0, "seed": DefaultSeed}
		if r.ctxSize > 0 {
			opts["num_ctx"] = r.ctxSize
		}
		b := map[string]any{
			"model": e.Target.Model, "messages": msgs, "stream": true, "options": opts,
			// Never cut a prompt or the context silently: fail instead.
			"truncate": false, "shift": false,
		}
		body, _ = json.Marshal(b)
		return "/api/chat", body, "application/x-ndjson"
	}
	b := map[string]any{
		"model": e.Target.Model, "messages": msgs, "stream": true,
		"stream_options": map[string]any{"include_usage": true},
		"max_tokens":     r.maxTokens, "temperature": 0, "seed": DefaultSeed,
	}
	switch kind {
	case KindLlamaCpp:
		b["n_predict"] = r.maxTokens
		b["ignore_eos"] = !r.probe
		b["cache_prompt"] = r.warm
		b["timings_per_token"] = true
	case KindVLLM, KindSGLang:
		if !r.probe {
			b["min_tokens"] = r.maxTokens
			b["ignore_eos"] = true
		}
		b["stream_options"] = map[string]any{"include_usage": true, "continuous_usage_stats": true}
	}
	body, _ = json.Marshal(b)
	return "/v1/chat/completions", body, "text/event-stream"
}

type chatChunk struct {
	Choices []chatChoice    `json:"choices"`
	Usage   *chatUsage      `json:"usage"`
	Timings *llamaTimings   `json:"timings"`
	Error   json.RawMessage `json:"error"`
}

type chatChoice struct {
	Delta struct {
		Role             *string         `json:"role"`
		Content          *string         `json:"content"`
		ReasoningContent *string         `json:"reasoning_content"`
		Reasoning        *string         `json:"reasoning"`
		ToolCalls        json.RawMessage `json:"tool_calls"`
	} `json:"delta"`
	Text         *string `json:"text"`
	FinishReason *string `json:"finish_reason"`
}

type chatUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens *int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

type llamaTimings struct {
	CacheN             *int    `json:"cache_n"`
	PromptN            int     `json:"prompt_n"`
	PromptMS           float64 `json:"prompt_ms"`
	PromptPerSecond    float64 `json:"prompt_per_second"`
	PredictedN         *int    `json:"predicted_n"`
	PredictedMS        float64 `json:"predicted_ms"`
	PredictedPerSecond float64 `json:"predicted_per_second"`
}

func nonEmpty(s *string) bool { return s != nil && *s != "" }

// readOpenAI reads an OpenAI-style SSE stream into m.
func (e *Engine) readOpenAI(body io.Reader, m *measurement, r request, alive func(time.Time)) error {
	stamp := &stampReader{r: body, clock: e.clock, conn: m.conn, since: m.start}
	sr := sse.NewReader(stamp)
	var store chunkStore
	var c chatChunk
	for {
		ev, err := sr.Next()
		now := stamp.at()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		alive(stamp.readAt())
		m.events++
		data := bytes.TrimSpace(ev.Data)
		if string(data) == "[DONE]" {
			m.finished = true
			return nil
		}
		if err := store.decode(data, &c); err != nil {
			m.fail(schema.ErrKindBadResponse, fmt.Errorf("chunk %d is not JSON: %s: %s", m.events, truncate(err.Error(), 200), truncate(string(data), 200)))
			return nil
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			m.fail(schema.ErrKindStreamBroken, fmt.Errorf("the server sent an error in the stream: %s", truncate(errorText(data), MaxErrorBody)))
			return nil
		}
		cum := -1
		if c.Usage != nil {
			m.haveUsage = true
			m.promptTokens = c.Usage.PromptTokens
			m.completionTokens = c.Usage.CompletionTokens
			if d := c.Usage.PromptTokensDetails; d != nil && d.CachedTokens != nil {
				m.setCached(*d.CachedTokens)
			}
		}
		if t := c.Timings; t != nil {
			m.server = serverFigures{
				have: true, tps: t.PredictedPerSecond, prefillTPS: t.PromptPerSecond,
				promptMS: t.PromptMS, predictedMS: t.PredictedMS, promptN: t.PromptN,
			}
			if t.PredictedN != nil {
				m.server.predictedN = *t.PredictedN
				cum = *t.PredictedN
			}
			if t.CacheN != nil {
				m.setCached(*t.CacheN)
			}
		}
		isToken, isContent, blank := m.choices(&c)
		if c.Usage != nil && (isToken || blank) {
			// Usage on a chunk that carries a token: continuous usage stats (vLLM,
			// SGLang). Usage on the finishing chunk is the total, not a count of it.
			cum = c.Usage.CompletionTokens
		}
		if blank && !isToken {
			m.blankEvent(now, cum)
		} else {
			m.tokenEvent(now, isToken, isContent, cum)
		}
		if isToken && r.onTokens != nil {
			r.onTokens(now, m.tokensSoFar())
		}
		if m.finish != "" && c.Usage != nil && len(c.Choices) == 0 {
			// The usage chunk after the finish: some servers send no [DONE].
			m.finished = true
		}
		if m.finish != "" {
			m.finished = true
		}
	}
}

type ollamaChunk struct {
	CreatedAt string `json:"created_at"`
	Message   struct {
		Content  string `json:"content"`
		Thinking string `json:"thinking"`
	} `json:"message"`
	Done               bool   `json:"done"`
	DoneReason         string `json:"done_reason"`
	Error              string `json:"error"`
	LoadDuration       int64  `json:"load_duration"`
	PromptEvalCount    int    `json:"prompt_eval_count"`
	PromptEvalDuration int64  `json:"prompt_eval_duration"`
	EvalCount          int    `json:"eval_count"`
	EvalDuration       int64  `json:"eval_duration"`
}

// readOllama reads Ollama's NDJSON stream into m.
func (e *Engine) readOllama(body io.Reader, m *measurement, r request, alive func(time.Time)) error {
	stamp := &stampReader{r: body, clock: e.clock, conn: m.conn, since: m.start}
	// Lines are a few hundred bytes; ReadBytes gathers a longer one in pieces.
	br := bufio.NewReaderSize(stamp, 4<<10)
	for {
		line, err := br.ReadBytes('\n')
		now := stamp.at()
		if err != nil && !errors.Is(err, io.EOF) {
			return err // the line is cut: the read error is the reason
		}
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			alive(stamp.readAt())
			m.events++
			var c ollamaChunk
			if jerr := json.Unmarshal(line, &c); jerr != nil {
				m.fail(schema.ErrKindBadResponse, fmt.Errorf("line %d is not JSON: %s: %s", m.events, truncate(jerr.Error(), 200), truncate(string(line), 200)))
				return nil
			}
			if c.Error != "" {
				m.fail(schema.ErrKindStreamBroken, fmt.Errorf("the server sent an error in the stream: %s", truncate(c.Error, MaxErrorBody)))
				return nil
			}
			isContent := c.Message.Content != ""
			isToken := isContent || c.Message.Thinking != ""
			if !isToken && !c.Done {
				m.blankEvent(now, -1)
			} else {
				m.tokenEvent(now, isToken, isContent, -1)
			}
			if isToken && r.onTokens != nil {
				r.onTokens(now, m.tokensSoFar())
			}
			if at, perr := time.Parse(time.RFC3339Nano, c.CreatedAt); isToken && perr == nil {
				if m.serverFirst.IsZero() {
					m.serverFirst = at
				}
				m.serverLast = at
			}
			if c.Done {
				m.finished = true
				m.finish = c.DoneReason
				m.haveUsage = c.EvalCount > 0 || c.PromptEvalCount > 0
				m.promptTokens = c.PromptEvalCount
				m.completionTokens = c.EvalCount
				m.server = serverFigures{
					have: true, promptN: c.PromptEvalCount, predictedN: c.EvalCount,
					promptMS:    float64(c.PromptEvalDuration) / 1e6,
					predictedMS: float64(c.EvalDuration) / 1e6,
					loadS:       float64(c.LoadDuration) / 1e9,
				}
				if c.EvalDuration > 0 {
					m.server.tps = float64(c.EvalCount) / (float64(c.EvalDuration) / 1e9)
				}
				if c.PromptEvalDuration > 0 {
					m.server.prefillTPS = float64(c.PromptEvalCount) / (float64(c.PromptEvalDuration) / 1e9)
				}
				return nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// classifyTransport names an error that came before the response headers.
func (e *Engine) classifyTransport(ctx, rctx context.Context, err error, host string, timeout time.Duration, m *measurement) (kind, msg string) {
	switch {
	case ctx.Err() != nil:
		return schema.ErrKindCancelled, "cancelled: " + ctx.Err().Error()
	case errors.Is(context.Cause(rctx), errDeadline):
		return schema.ErrKindTimeout, fmt.Sprintf("no response within the request deadline of %s", timeout)
	case errors.Is(context.Cause(rctx), errNoAnswer):
		return schema.ErrKindTimeout, e.noAnswerText(m.noAnswerWait)
	}
	return classifyTransportError(ctx, err, host)
}

// classifyTransportError names a transport error: a refused connection, or a
// connection that broke before the response (then a new connection is tried: if
// it is refused, the server went away).
func classifyTransportError(ctx context.Context, err error, host string) (kind, msg string) {
	switch {
	case ctx.Err() != nil:
		return schema.ErrKindCancelled, "cancelled: " + ctx.Err().Error()
	case isRefused(err):
		return schema.ErrKindConnectionRefused, "connection refused: " + err.Error()
	case isTimeout(err):
		return schema.ErrKindTimeout, err.Error()
	case refusedNow(ctx, host):
		return schema.ErrKindConnectionRefused, fmt.Sprintf("the connection broke before a response (%v) and the server now refuses connections", err)
	}
	return schema.ErrKindStreamBroken, fmt.Sprintf("the connection broke before a response: %v", err)
}

// classifyStream names an error that came while the stream was read.
func (e *Engine) classifyStream(ctx, rctx context.Context, err error, m *measurement, timeout, stall time.Duration) (kind, msg string) {
	tokens := m.tokensSoFar()
	switch cause := context.Cause(rctx); {
	case ctx.Err() != nil:
		return schema.ErrKindCancelled, "cancelled: " + ctx.Err().Error()
	case errors.Is(err, errByteBudget) || errors.Is(cause, errTokenBudget):
		return schema.ErrKindBadResponse, fmt.Sprintf("the stream passed its budget for max_tokens %d (%d tokens, %d bytes) after %d chunks (%d tokens): cut",
			m.asked, m.budget.tokens, m.budget.bytes, m.events, tokens)
	case errors.Is(cause, errNoAnswer):
		return schema.ErrKindTimeout, e.noAnswerText(m.noAnswerWait)
	case errors.Is(cause, errStall):
		return schema.ErrKindStreamBroken, stallText(m, stall, tokens)
	case errors.Is(cause, errDeadline) && m.events == 0:
		// llama-server sends its headers at once and its first chunk after the
		// prefill: silence after the headers is a slow prefill as often as a stall.
		return schema.ErrKindTimeout, noEventText(m, timeout)
	case errors.Is(cause, errDeadline):
		return schema.ErrKindTimeout, fmt.Sprintf("the request deadline of %s passed after %d tokens", timeout, tokens)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed):
		return schema.ErrKindStreamBroken, fmt.Sprintf("the connection broke after %d chunks (%d tokens): %v", m.events, tokens, err)
	}
	return schema.ErrKindStreamBroken, fmt.Sprintf("reading the stream after %d chunks (%d tokens): %v", m.events, tokens, err)
}

func isRefused(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	// Some platforms wrap the errno in text only.
	return err != nil && strings.Contains(err.Error(), "connection refused")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
