package engine

import (
	"encoding/json"

	"github.com/valyala/fastjson"
)

// chunkParsers are shared by every stream: a parser is held only while a chunk
// is decoded, so a thousand streams do not each keep one.
var chunkParsers fastjson.ParserPool

// decodeChunk parses an OpenAI-style stream chunk into c without reflection
// (encoding/json's reflection was most of the client's CPU per token); what c
// keeps is copied out of the parser. A field of an unexpected type counts as
// absent; data that is not JSON is an error.
func decodeChunk(data []byte, c *chatChunk) error {
	p := chunkParsers.Get()
	defer chunkParsers.Put(p)
	v, err := p.ParseBytes(data)
	if err != nil {
		return err
	}
	o, err := v.Object()
	if err != nil {
		return err
	}
	// One pass over the keys: a lookup per field would scan them each time.
	o.Visit(func(key []byte, x *fastjson.Value) {
		switch string(key) {
		case "choices":
			for _, ch := range x.GetArray() {
				c.Choices = append(c.Choices, decodeChoice(ch))
			}
		case "usage":
			if x.Type() == fastjson.TypeObject {
				c.Usage = &chatUsage{PromptTokens: x.GetInt("prompt_tokens"), CompletionTokens: x.GetInt("completion_tokens")}
				if d := x.Get("prompt_tokens_details"); d != nil && d.Type() == fastjson.TypeObject {
					c.Usage.PromptTokensDetails = &struct {
						CachedTokens *int `json:"cached_tokens"`
					}{CachedTokens: intPtr(d.Get("cached_tokens"))}
				}
			}
		case "timings":
			if x.Type() == fastjson.TypeObject {
				c.Timings = decodeTimings(x)
			}
		case "error":
			c.Error = raw(x)
		}
	})
	return nil
}

func decodeChoice(ch *fastjson.Value) chatChoice {
	var x chatChoice
	o, err := ch.Object()
	if err != nil {
		return x
	}
	o.Visit(func(key []byte, v *fastjson.Value) {
		switch string(key) {
		case "delta":
			d, err := v.Object()
			if err != nil {
				return
			}
			d.Visit(func(key []byte, v *fastjson.Value) {
				switch string(key) {
				case "role":
					x.Delta.Role = strPtr(v)
				case "content":
					x.Delta.Content = strPtr(v)
				case "reasoning_content":
					x.Delta.ReasoningContent = strPtr(v)
				case "reasoning":
					x.Delta.Reasoning = strPtr(v)
				case "tool_calls":
					x.Delta.ToolCalls = raw(v)
				}
			})
		case "text":
			x.Text = strPtr(v)
		case "finish_reason":
			x.FinishReason = strPtr(v)
		}
	})
	return x
}

func decodeTimings(t *fastjson.Value) *llamaTimings {
	lt := &llamaTimings{}
	o, _ := t.Object()
	o.Visit(func(key []byte, v *fastjson.Value) {
		f, _ := v.Float64()
		switch string(key) {
		case "cache_n":
			lt.CacheN = intPtr(v)
		case "prompt_n":
			lt.PromptN = int(f)
		case "prompt_ms":
			lt.PromptMS = f
		case "prompt_per_second":
			lt.PromptPerSecond = f
		case "predicted_n":
			lt.PredictedN = intPtr(v)
		case "predicted_ms":
			lt.PredictedMS = f
		case "predicted_per_second":
			lt.PredictedPerSecond = f
		}
	})
	return lt
}

// strPtr is the string x holds, nil when it is not a string.
func strPtr(x *fastjson.Value) *string {
	if x.Type() != fastjson.TypeString {
		return nil
	}
	b, _ := x.StringBytes()
	s := string(b)
	return &s
}

// intPtr is the number x holds, nil when absent or not a number.
func intPtr(x *fastjson.Value) *int {
	if x == nil || x.Type() != fastjson.TypeNumber {
		return nil
	}
	f, _ := x.Float64()
	n := int(f)
	return &n
}

// raw is the JSON text of x, nil when it is null.
func raw(x *fastjson.Value) json.RawMessage {
	if x.Type() == fastjson.TypeNull {
		return nil
	}
	return x.MarshalTo(nil)
}
