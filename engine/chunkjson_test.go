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

// FuzzChunkStoreReuse: a stream decodes every chunk into one chunkStore; what a
// chunk decodes to never depends on the chunks before it: it equals a fresh
// decode, error for error.
func FuzzChunkStoreReuse(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"choices":[{"delta":{"content":"a","role":"assistant"}},{"text":"b","finish_reason":"stop"}],"usage":{"prompt_tokens":3,"prompt_tokens_details":{"cached_tokens":1}},"timings":{"cache_n":2,"predicted_n":1}}`,
			`{"choices":[{"delta":{"content":""}}]}`},
		{`{"choices":[{"delta":{"reasoning":"r","tool_calls":[1]}}],"error":{"m":1}}`, `{"choices":[],"timings":{"prompt_n":4}}`},
		{`{"choices":[{"delta":{"content":"x"}}]}`, `{"choices":[`},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var s chunkStore
		var c chatChunk
		errA := s.decode(a, &c)
		var fresh chatChunk
		if err := decodeChunk(a, &fresh); (err == nil) != (errA == nil) {
			t.Fatalf("first chunk: error %v with a store, %v fresh", errA, err)
		} else if err == nil {
			if diff := cmp.Diff(fresh, c, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("first chunk (-fresh +store):\n%s", diff)
			}
		}
		errB := s.decode(b, &c)
		fresh = chatChunk{}
		if err := decodeChunk(b, &fresh); (err == nil) != (errB == nil) {
			t.Fatalf("second chunk: error %v with a store, %v fresh", errB, err)
		} else if err == nil {
			if diff := cmp.Diff(fresh, c, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("second chunk (-fresh +store):\n%s", diff)
			}
		}
	})
}
