package enginetest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/internal/sse"
)

func post(t *testing.T, url string, body any) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestStream(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(enginetest.Stream{TokensPerChunk: 2, Timings: true, RoleChunk: true, Reasoning: 2}.Response)
	defer srv.Close()
	resp := post(t, srv.URL+"/v1/chat/completions", map[string]any{
		"model": "m", "max_tokens": 5, "stream": true,
		"messages": []any{map[string]any{"role": "user", "content": "one two three"}},
	})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := sse.NewReader(resp.Body)
	type chunk struct {
		Choices []struct {
			Delta        map[string]any `json:"delta"`
			FinishReason *string        `json:"finish_reason"`
		} `json:"choices"`
		Usage *struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
		Timings *struct {
			PredictedN int `json:"predicted_n"`
		} `json:"timings"`
	}
	var got []string // a summary line per event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.Data) == "[DONE]" {
			got = append(got, "done")
			continue
		}
		var c chunk
		if err := json.Unmarshal(ev.Data, &c); err != nil {
			t.Fatalf("%s: %v", ev.Data, err)
		}
		var parts []string
		for _, ch := range c.Choices {
			for _, k := range []string{"role", "reasoning_content", "content"} {
				if v, ok := ch.Delta[k].(string); ok {
					parts = append(parts, k+"="+strings.TrimSpace(v))
				}
			}
			if ch.FinishReason != nil {
				parts = append(parts, "finish="+*ch.FinishReason)
			}
		}
		if c.Timings != nil {
			parts = append(parts, "n="+strings.Repeat("|", c.Timings.PredictedN))
		}
		if c.Usage != nil {
			parts = append(parts, "usage="+strings.Repeat("|", c.Usage.PromptTokens)+"/"+strings.Repeat("|", c.Usage.CompletionTokens))
		}
		got = append(got, strings.Join(parts, " "))
	}
	want := []string{
		"role=assistant",
		"reasoning_content=tok tok n=||",
		"content=tok tok n=||||",
		"content=tok n=|||||",
		"finish=length",
		"n=||||| usage=|||||/|||||", // 3 words + 2 template tokens; 5 tokens out
		"done",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stream (-want +got):\n%s", diff)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || reqs[0].MaxTokens != 5 || reqs[0].User != "one two three" || reqs[0].PromptTokens() != 5 {
		t.Errorf("requests = %+v, want the one sent", reqs)
	}
}

func TestTokenizer(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(nil)
	defer srv.Close()
	var tpl struct{ Prompt string }
	if err := json.NewDecoder(post(t, srv.URL+"/apply-template", map[string]any{
		"messages": []any{map[string]any{"role": "user", "content": "a b c d"}},
	}).Body).Decode(&tpl); err != nil {
		t.Fatal(err)
	}
	var tok struct{ Tokens []int }
	if err := json.NewDecoder(post(t, srv.URL+"/tokenize", map[string]any{"content": tpl.Prompt}).Body).Decode(&tok); err != nil {
		t.Fatal(err)
	}
	if got, want := len(tok.Tokens), 4+enginetest.TemplateTokens; got != want {
		t.Errorf("template %q has %d tokens, want %d", tpl.Prompt, got, want)
	}
}

func TestErrorResponse(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(func(enginetest.Request) enginetest.Response {
		return enginetest.Response{Status: 503, Body: `{"error":"busy"}`}
	})
	defer srv.Close()
	resp := post(t, srv.URL+"/v1/chat/completions", map[string]any{"model": "m", "messages": []any{}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || string(body) != `{"error":"busy"}` {
		t.Errorf("got %d %q, want 503 with the scripted body", resp.StatusCode, body)
	}
}

func TestInFlight(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(func(enginetest.Request) enginetest.Response {
		return enginetest.Response{Hang: true, Chunks: []enginetest.Chunk{{Data: `{"choices":[]}`}}}
	})
	defer srv.Close()
	const n = 3
	var bodies []io.ReadCloser
	for range n {
		// Each stream stays open (Hang), so request k arrives with k-1 in flight.
		b, _ := json.Marshal(map[string]any{"model": "m", "messages": []any{}})
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
	}
	if got := srv.InFlight(); got != n {
		t.Errorf("InFlight() = %d with %d streams open, want %d", got, n, n)
	}
	var got []int
	for _, r := range srv.Requests() {
		got = append(got, r.InFlight)
	}
	if diff := cmp.Diff([]int{1, 2, 3}, got); diff != "" {
		t.Errorf("requests' InFlight (-want +got):\n%s", diff)
	}
	for _, b := range bodies {
		b.Close()
	}
	for deadline := time.Now().Add(10 * time.Second); srv.InFlight() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("InFlight() = %d 10 s after every client went away, want 0", srv.InFlight())
		}
	}
	if got := srv.MaxInFlight(); got != n {
		t.Errorf("MaxInFlight() = %d, want %d", got, n)
	}
}
