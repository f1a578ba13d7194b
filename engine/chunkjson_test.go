package engine

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestDecodeChunkMatchesEncodingJSON: the reflection-free decoder reads the
// chunks servers send as encoding/json does.
func TestDecodeChunkMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for name, data := range map[string]string{
		"llama.cpp content": `{"choices":[{"finish_reason":null,"index":0,"delta":{"content":" tok"}}],"created":1,"id":"x","model":"tiny","object":"chat.completion.chunk","timings":{"cache_n":0,"prompt_n":81,"prompt_ms":12.5,"prompt_per_second":6480.5,"predicted_n":3,"predicted_ms":20.25,"predicted_per_second":98.7}}`,
		"role only":         `{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}`,
		"reasoning":         `{"choices":[{"delta":{"reasoning_content":"hm","reasoning":"x"}}]}`,
		"tool calls":        `{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}}]}`,
		"finish":            `{"choices":[{"delta":{},"finish_reason":"length"}]}`,
		"completions text":  `{"choices":[{"text":"hi \u00e9\n","finish_reason":null}]}`,
		"vllm usage":        `{"choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":2}}}`,
		"usage only":        `{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":4}}`,
		"error object":      `{"error":{"message":"boom","code":500}}`,
		"error string":      `{"error":"boom"}`,
		"error null":        `{"error":null,"choices":[]}`,
	} {
		var want, got chatChunk
		if err := json.Unmarshal([]byte(data), &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := decodeChunk([]byte(data), &got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Raw JSON may differ in spacing only; compare it compacted.
		for _, c := range []*chatChunk{&want, &got} {
			c.Error = compact(c.Error)
			for i := range c.Choices {
				c.Choices[i].Delta.ToolCalls = compact(c.Choices[i].Delta.ToolCalls)
			}
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (-encoding/json +decodeChunk):\n%s", name, diff)
		}
	}
	var c chatChunk
	if err := decodeChunk([]byte(`{"choices":[`), &c); err == nil {
		t.Error("a cut chunk decoded without error")
	}
}

func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}
