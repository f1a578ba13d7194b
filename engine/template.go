package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// The chat template puts a fixed prefix (a BOS token, the user role's header)
// before every user message. Prefix caches (vLLM, SGLang, Ollama) reuse it from
// one request to the next however unique the message is, so a run is cold when
// its cached tokens are at most this prefix: Typhon's marker sits at the first
// token after it, where two requests' prompts begin to differ.

// templatePrefix measures the chat template's fixed prefix in tokens: the tokens
// two prompts share when their user messages differ from the first word. It
// needs a tokenizer that sees the template (llama.cpp's /apply-template and
// /tokenize, vLLM's chat /tokenize, Ollama's /api/generate context); 0 and an
// error when there is none.
func (e *Engine) templatePrefix(ctx context.Context, style string) (int, error) {
	var toks [2][]json.RawMessage
	for i, marker := range []string{markerWords[0], markerWords[1]} {
		text := promptText(marker, 1, 8)
		t, err := e.chatTokenIDs(ctx, style, text)
		if err != nil {
			return 0, err
		}
		toks[i] = t
	}
	n := 0
	for n < len(toks[0]) && n < len(toks[1]) && bytes.Equal(toks[0][n], toks[1][n]) {
		n++
	}
	if n == len(toks[0]) || n == len(toks[1]) {
		return 0, fmt.Errorf("engine: template prefix: the two prompts did not differ")
	}
	return n, nil
}

// chatTokenIDs returns the token ids of the chat prompt of user message user.
func (e *Engine) chatTokenIDs(ctx context.Context, style, user string) ([]json.RawMessage, error) {
	msgs := []map[string]string{{"role": "user", "content": user}}
	var tr tokenizeResponse
	switch {
	case e.kind() == KindOllama:
		var gen struct {
			Context []json.RawMessage `json:"context"`
		}
		body := map[string]any{"model": e.Target.Model, "prompt": user, "stream": false,
			"options": map[string]any{"num_predict": 1, "temperature": 0}}
		if err := e.post(ctx, "/api/generate", body, &gen); err != nil {
			return nil, err
		}
		return gen.Context, nil
	case style == tokStyleLlamaChat:
		var tpl struct {
			Prompt *string `json:"prompt"`
		}
		if err := e.post(ctx, "/apply-template", map[string]any{"messages": msgs}, &tpl); err != nil {
			return nil, err
		}
		if tpl.Prompt == nil {
			return nil, fmt.Errorf("%w: POST /apply-template: no prompt in the answer", ErrNoTokenizer)
		}
		if err := e.post(ctx, "/tokenize", map[string]any{"content": *tpl.Prompt, "add_special": true, "parse_special": true}, &tr); err != nil {
			return nil, err
		}
	case style == tokStyleVLLMChat:
		if err := e.post(ctx, "/tokenize", map[string]any{"model": e.Target.Model, "messages": msgs, "add_generation_prompt": true}, &tr); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: no tokenizer that sees the chat template (%s)", ErrNoTokenizer, style)
	}
	return tr.Tokens, nil
}

// exactLengthNote says, where the server cannot be asked for an exact output
// length, that runs ending early are kept out of the averages; "" where it can
// (llama.cpp ignore_eos, vLLM and SGLang min_tokens and ignore_eos).
func (e *Engine) exactLengthNote() string {
	switch e.kind() {
	case KindLlamaCpp, KindVLLM, KindSGLang:
		return ""
	case KindOllama:
		return "Ollama cannot be asked to ignore the end of sequence: a run that stops before max_tokens is kept but excluded (stopped_early)"
	}
	return "this server is not asked to ignore the end of sequence (no known option): a run that stops before max_tokens is kept but excluded (stopped_early)"
}
