package engine

import (
	"encoding/json"

	"github.com/valyala/fastjson"
)

// decodeChunk parses an OpenAI-style stream chunk into c without reflection:
// the chunk is parsed once into p's reusable tree (encoding/json's reflection
// was most of the client's CPU per token). A field of an unexpected type counts
// as absent; data that is not JSON is an error.
func decodeChunk(p *fastjson.Parser, data []byte, c *chatChunk) error {
	v, err := p.ParseBytes(data)
	if err != nil {
		return err
	}
	for _, ch := range v.GetArray("choices") {
		var x chatChoice
		d := ch.Get("delta")
		x.Delta.Content = strPtr(d, "content")
		x.Delta.ReasoningContent = strPtr(d, "reasoning_content")
		x.Delta.Reasoning = strPtr(d, "reasoning")
		x.Delta.ToolCalls = raw(d, "tool_calls")
		x.Text = strPtr(ch, "text")
		x.FinishReason = strPtr(ch, "finish_reason")
		c.Choices = append(c.Choices, x)
	}
	if u := v.Get("usage"); u != nil && u.Type() == fastjson.TypeObject {
		c.Usage = &chatUsage{PromptTokens: u.GetInt("prompt_tokens"), CompletionTokens: u.GetInt("completion_tokens")}
		if d := u.Get("prompt_tokens_details"); d != nil && d.Type() == fastjson.TypeObject {
			c.Usage.PromptTokensDetails = &struct {
				CachedTokens *int `json:"cached_tokens"`
			}{CachedTokens: intPtr(d, "cached_tokens")}
		}
	}
	if t := v.Get("timings"); t != nil && t.Type() == fastjson.TypeObject {
		c.Timings = &llamaTimings{
			CacheN: intPtr(t, "cache_n"), PromptN: t.GetInt("prompt_n"), PromptMS: t.GetFloat64("prompt_ms"),
			PromptPerSecond: t.GetFloat64("prompt_per_second"), PredictedN: intPtr(t, "predicted_n"),
			PredictedMS: t.GetFloat64("predicted_ms"), PredictedPerSecond: t.GetFloat64("predicted_per_second"),
		}
	}
	c.Error = raw(v, "error")
	return nil
}

// strPtr is the string at key of v, nil when absent or not a string.
func strPtr(v *fastjson.Value, key string) *string {
	x := v.Get(key)
	if x == nil || x.Type() != fastjson.TypeString {
		return nil
	}
	b, _ := x.StringBytes()
	s := string(b)
	return &s
}

// intPtr is the number at key of v, nil when absent or not a number.
func intPtr(v *fastjson.Value, key string) *int {
	x := v.Get(key)
	if x == nil || x.Type() != fastjson.TypeNumber {
		return nil
	}
	n := int(x.GetFloat64())
	return &n
}

// raw is the JSON text of the value at key of v, nil when absent or null.
func raw(v *fastjson.Value, key string) json.RawMessage {
	x := v.Get(key)
	if x == nil || x.Type() == fastjson.TypeNull {
		return nil
	}
	return x.MarshalTo(nil)
}
