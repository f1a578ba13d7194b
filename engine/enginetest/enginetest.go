// Package enginetest is a scripted OpenAI-compatible streaming server for tests of
// code that drives package engine: it answers /v1/chat/completions with the chunks
// a script gives, and offers llama.cpp's /health, /tokenize and /apply-template
// with a toy tokenizer (one token per whitespace-separated word).
//
// It is for unit tests; Typhon's integration tests run against real servers.
package enginetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// TemplateTokens is what the toy chat template adds to a user message's tokens.
const TemplateTokens = 2

// Tokens is the toy tokenizer: one token per whitespace-separated word.
func Tokens(text string) int { return len(strings.Fields(text)) }

// Request is what the server saw of one chat completion request.
type Request struct {
	N         int    // 0-based index among the chat completion requests
	Model     string // "model"
	MaxTokens int    // "max_tokens", or "n_predict" when larger
	User      string // the last user message
	// Body is the decoded request body.
	Body map[string]any
	// InFlight is how many chat completion requests were in progress when this
	// one arrived, itself included.
	InFlight int
}

// PromptTokens is the toy tokenizer's count of the request's chat prompt.
func (r Request) PromptTokens() int { return Tokens(r.User) + TemplateTokens }

// Chunk is one server-sent event of a scripted response.
type Chunk struct {
	Delay time.Duration // wait before sending it, from when the previous chunk was due
	Data  string        // the event's data, sent as "data: <Data>\n\n"
	// Hold leaves the chunk unflushed: it goes out with the next flushed chunk,
	// as from a buffering proxy or a server that does not flush.
	Hold bool
}

// Response is the scripted answer to one request.
type Response struct {
	// Status, when not 0 or 200, is sent with Body instead of a stream.
	Status int
	Body   string
	// HeaderDelay is a wait before the response headers.
	HeaderDelay time.Duration
	Chunks      []Chunk
	// Hang keeps the stream open after the chunks until the client goes away.
	Hang bool
	// Drop closes the connection without an answer, as a server that crashed.
	Drop bool
	// Sent, when set, is called after chunk i was written and flushed, with the
	// time: the stream's real timeline, for tests that need the truth.
	Sent func(i int, at time.Time)
}

// Script answers a request.
type Script func(r Request) Response

// Server is a running scripted server; close it with Close.
type Server struct {
	*httptest.Server
	script Script

	mu          sync.Mutex
	requests    []Request
	inFlight    int
	maxInFlight int
}

// NewServer starts a server that answers chat completions with script (nil means
// Stream{}.Response).
func NewServer(script Script) *Server {
	if script == nil {
		script = Stream{}.Response
	}
	s := &Server{script: script}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"object": "list", "data": []any{map[string]any{"id": "fake", "object": "model"}}})
	})
	mux.HandleFunc("POST /apply-template", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Messages []struct{ Role, Content string } `json:"messages"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var b strings.Builder
		for _, m := range body.Messages {
			fmt.Fprintf(&b, "<%s> %s ", m.Role, m.Content)
		}
		b.WriteString("<assistant>")
		writeJSON(w, map[string]any{"prompt": b.String()})
	})
	mux.HandleFunc("POST /tokenize", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Content string `json:"content"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		toks := make([]int, Tokens(body.Content))
		for i := range toks {
			toks[i] = 100 + i
		}
		writeJSON(w, map[string]any{"tokens": toks})
	})
	mux.HandleFunc("POST /v1/chat/completions", s.chat)
	s.Server = httptest.NewServer(mux)
	return s
}

// InFlight returns how many chat completion requests are in progress now.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// MaxInFlight returns the most chat completion requests that were in progress at
// once so far: from the arrival of a request to the end of its answer.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// Requests returns the chat completion requests seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":{"message":"bad JSON"}}`, http.StatusBadRequest)
		return
	}
	req := Request{Body: body}
	req.Model, _ = body["model"].(string)
	for _, k := range []string{"max_tokens", "n_predict"} {
		if v, ok := body[k].(float64); ok && int(v) > req.MaxTokens {
			req.MaxTokens = int(v)
		}
	}
	if msgs, ok := body["messages"].([]any); ok {
		for _, m := range msgs {
			if mm, ok := m.(map[string]any); ok && mm["role"] == "user" {
				req.User, _ = mm["content"].(string)
			}
		}
	}
	s.mu.Lock()
	req.N = len(s.requests)
	req.InFlight = s.inFlight
	s.requests = append(s.requests, req)
	s.mu.Unlock()

	resp := s.script(req)
	ctx := r.Context()
	if resp.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if !sleep(ctx.Done(), resp.HeaderDelay) {
		return
	}
	if resp.Status != 0 && resp.Status != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.Status)
		fmt.Fprint(w, resp.Body)
		return
	}
	streamChunks(ctx, w, resp)
	if resp.Hang {
		<-ctx.Done()
	}
}

// streamChunks sends the chunks of resp as server-sent events on their schedule.
func streamChunks(ctx context.Context, w http.ResponseWriter, resp Response) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	// Each chunk is due Delay after the previous one was due, so that the
	// sleeps' overshoot does not add up over a stream: the script's timeline holds.
	// A chunk more than its Delay late (the process was not scheduled) moves the
	// timeline instead: the chunks after it are not sent in a burst to catch up.
	due := time.Now()
	for i, c := range resp.Chunks {
		due = due.Add(c.Delay)
		if now := time.Now(); c.Delay > 0 && now.Sub(due) > c.Delay {
			due = now
		}
		if !sleep(ctx.Done(), time.Until(due)) {
			return
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", c.Data); err != nil {
			return
		}
		if fl != nil && !c.Hold {
			fl.Flush()
		}
		if resp.Sent != nil {
			resp.Sent(i, time.Now())
		}
	}
}

func sleep(done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Stream scripts a well-formed streaming completion, llama.cpp style. The zero
// value streams the request's max_tokens one token per chunk with usage.
type Stream struct {
	Tokens         int           // output tokens; 0 means the request's max_tokens
	TokensPerChunk int           // 0 means 1
	FirstDelay     time.Duration // before the first token (the prefill)
	// Interval is the time between token chunks; 0 means DefaultInterval.
	Interval time.Duration
	// Burst sends every chunk at once, without Interval: a stream that a
	// buffering proxy held back, which the engine excludes as buffered.
	Burst bool
	// PromptTokens reported in usage; 0 means the toy tokenizer's count.
	PromptTokens int
	RoleChunk    bool // a role-only chunk first
	Reasoning    int  // the first Reasoning tokens come as reasoning_content
	NoUsage      bool // no usage chunk
	// Timings adds llama.cpp's timings to every token chunk and the last chunk,
	// with the cumulative predicted_n, so per-chunk token counts are known.
	Timings      bool
	CachedTokens *int   // prompt_tokens_details.cached_tokens (and timings cache_n)
	FinishReason string // "" means "length" when Tokens reached max_tokens, else "stop"
	NoDone       bool   // no "data: [DONE]" at the end
	Hang         bool   // keep the stream open after the last chunk (see Response.Hang)
}

// DefaultInterval is the time between token chunks of a Stream whose Interval is
// 0: short, but a real decode's pace, not a burst.
const DefaultInterval = 250 * time.Microsecond

// resolved is the Stream with its defaults for request r filled in.
func (s Stream) resolved(r Request) Stream {
	switch {
	case s.Burst:
		s.Interval = 0
	case s.Interval == 0:
		s.Interval = DefaultInterval
	}
	if s.Tokens <= 0 {
		s.Tokens = r.MaxTokens
	}
	s.TokensPerChunk = max(s.TokensPerChunk, 1)
	if s.PromptTokens <= 0 {
		s.PromptTokens = r.PromptTokens()
	}
	if s.FinishReason == "" {
		s.FinishReason = "stop"
		if s.Tokens >= r.MaxTokens {
			s.FinishReason = "length"
		}
	}
	return s
}

// Response builds the scripted response to r.
func (s Stream) Response(r Request) Response {
	s = s.resolved(r)
	n, per, prompt, finish := s.Tokens, s.TokensPerChunk, s.PromptTokens, s.FinishReason
	var out []Chunk
	add := func(d time.Duration, v any) {
		b, _ := json.Marshal(v)
		out = append(out, Chunk{Delay: d, Data: string(b)})
	}
	cached := 0
	if s.CachedTokens != nil {
		cached = *s.CachedTokens
	}
	timings := func(cum int) map[string]any {
		predMS := float64(s.Interval.Microseconds()) / 1000 * float64(max(cum-1, 0)) / float64(per)
		tps := 0.0
		if predMS > 0 {
			tps = float64(cum-1) / predMS * 1000
		}
		return map[string]any{
			"cache_n": cached, "prompt_n": prompt - cached, "prompt_ms": float64(s.FirstDelay.Microseconds()) / 1000,
			"prompt_per_second": 0.0, "predicted_n": cum, "predicted_ms": predMS, "predicted_per_second": tps,
		}
	}
	chunk := func(delta map[string]any, finish any, cum int) map[string]any {
		c := map[string]any{
			"object":  "chat.completion.chunk",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
		}
		if s.Timings && cum >= 0 {
			c["timings"] = timings(cum)
		}
		return c
	}
	delay := s.FirstDelay
	if s.RoleChunk {
		add(0, chunk(map[string]any{"role": "assistant", "content": nil}, nil, -1))
	}
	for done := 0; done < n; {
		k := min(per, n-done)
		field := "content"
		if done < s.Reasoning {
			field = "reasoning_content"
			k = min(k, s.Reasoning-done)
		}
		text := strings.Repeat(" tok", k)
		done += k
		add(delay, chunk(map[string]any{field: text}, nil, done))
		delay = s.Interval
	}
	add(0, chunk(map[string]any{}, finish, -1))
	if !s.NoUsage {
		u := map[string]any{"prompt_tokens": prompt, "completion_tokens": n, "total_tokens": prompt + n}
		if s.CachedTokens != nil {
			u["prompt_tokens_details"] = map[string]any{"cached_tokens": *s.CachedTokens}
		}
		last := map[string]any{"object": "chat.completion.chunk", "choices": []any{}, "usage": u}
		if s.Timings {
			last["timings"] = timings(n)
		}
		add(0, last)
	}
	if !s.NoDone {
		out = append(out, Chunk{Data: "[DONE]"})
	}
	return Response{Chunks: out, Hang: s.Hang}
}
