// Package advice asks a language model for advice on a benchmark run: it sends
// the run's compact summary ([Summary]: figures, findings, suggested command,
// hardware; never API keys, paths or host names) with a system prompt to any
// OpenAI-compatible chat server, by default the server that was benchmarked,
// and streams the answer back.
//
//	answer, err := advice.Ask(ctx, res, advice.Target{}, os.Stdout)
package advice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// Defaults of a zero Target.
const (
	// DefaultTimeout bounds one Ask, from the request to the end of the answer.
	DefaultTimeout = 3 * time.Minute
	// DefaultMaxTokens is the longest answer asked for.
	DefaultMaxTokens = 1024
	// DefaultMaxAnswerBytes is where Ask stops reading an answer.
	DefaultMaxAnswerBytes = 64 << 10
	// DefaultQuestion is asked when Target.Question is empty.
	DefaultQuestion = "How can I make this server faster or serve longer contexts on this hardware? Which settings should I change first?"
	// MaxErrorBody is how much of the server's error body an error keeps.
	MaxErrorBody = 2048
	// MaxSummaryBytes bounds the summary a request carries: a larger one has
	// its texts cut and its lists shortened (see Summary).
	MaxSummaryBytes = 32 << 10
)

// SystemPrompt frames the summary for the model.
const SystemPrompt = `You are an expert in running large language models on local inference servers (llama.cpp's llama-server, Ollama, vLLM, LM Studio, SGLang). The user ran Typhon, a benchmark, and gives you its compact summary as JSON: decode speed (avg_tps, tokens/s), time to first token (ttft_s), prefill speed, a context sweep, load tests, GPU memory and temperature, the findings of its rules and a suggested server command. Figures that were not measured are null. Answer the user's question from these figures: name the figures you rely on, suggest concrete server flags or settings, say what to measure next, and do not invent figures. Be brief.`

// Errors of Ask.
var (
	// ErrServer wraps every failure of the advising server: refused, an HTTP
	// error (a *ServerError), a broken stream, or no answer.
	ErrServer = errors.New("advice server failed")
	// ErrNoTarget: neither Target.BaseURL nor the run names a server.
	ErrNoTarget = errors.New("no server to ask: the run names none; set the URL")
)

// ServerError is an HTTP error answer of the advising server.
type ServerError struct {
	URL    string
	Status int
	Body   string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.URL, e.Status, e.Body)
}

// Unwrap makes a ServerError match ErrServer.
func (e *ServerError) Unwrap() error { return ErrServer }

// Target is the server to ask and how. The zero value asks the server that was
// benchmarked, for the model that was benchmarked, the DefaultQuestion.
type Target struct {
	// BaseURL of an OpenAI-compatible server ("http://127.0.0.1:8080"); ""
	// means the run's server (Result.Server.APIBase).
	BaseURL string
	// Model to ask; "" means the run's model.
	Model string
	// APIKey is sent as a bearer token; never part of the summary.
	APIKey string
	// Question is the user's question; "" means DefaultQuestion.
	Question string
	// Secrets are more strings to keep out of the summary (a data directory).
	Secrets []string
	// HTTPClient sends the request; nil means a client of its own, which
	// follows no redirect.
	HTTPClient *http.Client
	// Timeout bounds the whole call; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxTokens is the longest answer asked for; 0 means DefaultMaxTokens.
	MaxTokens int
	// MaxAnswerBytes is where reading stops; 0 means DefaultMaxAnswerBytes.
	MaxAnswerBytes int
}

// Ask sends the summary of res and the question to the target and returns the
// answer, writing each piece of it to w (nil: nowhere) as it streams in. The
// answer stops at the target's MaxAnswerBytes. Errors of the server wrap
// ErrServer; cancelling ctx returns an error wrapping ctx.Err().
func Ask(ctx context.Context, res *schema.Result, t Target, w io.Writer) (string, error) {
	if res == nil {
		return "", errors.New("advice: no run")
	}
	t = t.withDefaults(res)
	if t.BaseURL == "" {
		return "", ErrNoTarget
	}
	sum, err := Summary(res, append(t.Secrets, t.APIKey)...)
	if err != nil {
		return "", fmt.Errorf("advice: summary: %w", err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	req, err := t.request(ctx, sum)
	if err != nil {
		return "", err
	}
	client := t.HTTPClient
	if client == nil {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr, CheckRedirect: refuseRedirect}
	}
	shown := safeURL(t.BaseURL)
	resp, err := client.Do(req)
	if err != nil {
		return "", t.failure(ctx, parent, shown, hideURL(err.Error(), t.BaseURL, shown))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
		return "", &ServerError{URL: shown, Status: resp.StatusCode, Body: strings.TrimSpace(printable(string(body)))}
	}
	answer, err := readResponse(resp, w, t.MaxAnswerBytes)
	var we writeError
	if errors.As(err, &we) {
		return answer, fmt.Errorf("advice: writing the answer: %w", we.err)
	}
	if err != nil {
		return answer, t.failure(ctx, parent, shown, err.Error())
	}
	if strings.TrimSpace(answer) == "" {
		return "", fmt.Errorf("%w: %s: the answer was empty", ErrServer, shown)
	}
	return answer, nil
}

// failure is the error of a request that failed with why: the caller's
// cancellation, Ask's own deadline (ErrServer and context.DeadlineExceeded:
// "no answer within"), or the server's failure.
func (t Target) failure(ctx, parent context.Context, shown, why string) error {
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("advice: %w", parent.Err())
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: %s: no answer within %v: %w", ErrServer, shown, t.Timeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("%w: %s: %s", ErrServer, shown, why)
}

// safeURL is u without its user's password and its query: what an error may show.
func safeURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "the advice server"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}

// hideURL replaces the URL in an error of net/http by the URL an error may show.
func hideURL(msg, base, shown string) string {
	if p, err := url.Parse(base); err == nil && p.User != nil {
		if pw, ok := p.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return strings.ReplaceAll(msg, base, shown)
}

func (t Target) withDefaults(res *schema.Result) Target {
	own := t.BaseURL == "" || strings.TrimRight(t.BaseURL, "/") == strings.TrimRight(res.Server.APIBase, "/")
	if t.BaseURL == "" {
		t.BaseURL = res.Server.APIBase
	}
	t.BaseURL = strings.TrimSuffix(strings.TrimRight(t.BaseURL, "/"), "/v1") // ".../v1" as OpenAI clients take it
	if t.Model == "" {
		t.Model = res.Model
		if !own && strings.ContainsAny(t.Model, `/\\`) && strings.Trim(t.Model, `/\\`) != "" {
			// The run's model id may be a file's path (llama-server's): another
			// server gets the file's name, not the path.
			t.Model = path.Base(strings.ReplaceAll(strings.TrimRight(t.Model, `/\`), `\`, "/"))
		}
	}
	if strings.TrimSpace(t.Question) == "" {
		t.Question = DefaultQuestion
	}
	if t.Timeout <= 0 {
		t.Timeout = DefaultTimeout
	}
	if t.MaxTokens <= 0 {
		t.MaxTokens = DefaultMaxTokens
	}
	if t.MaxAnswerBytes <= 0 {
		t.MaxAnswerBytes = DefaultMaxAnswerBytes
	}
	return t
}

// request builds the streaming chat completion.
func (t Target) request(ctx context.Context, summary []byte) (*http.Request, error) {
	body, err := json.Marshal(map[string]any{
		"model": t.Model, "stream": true, "max_tokens": t.MaxTokens,
		"messages": []map[string]string{
			{"role": "system", "content": SystemPrompt},
			{"role": "user", "content": t.Question + "\n\nBenchmark summary (JSON):\n" + string(summary)},
		},
	})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.BaseURL+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("advice: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if t.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.APIKey)
	}
	return req, nil
}

// refuseRedirect is the CheckRedirect of Ask's own client: a redirect is not
// followed (net/http would send the API key to another port of the same host),
// and the error names where it pointed.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("redirected to %s: not followed", req.URL.Redacted())
}
