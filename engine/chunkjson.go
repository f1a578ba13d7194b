package engine

import (
	"encoding/json"

	"github.com/valyala/fastjson"
)

// chunkParsers are shared by every stream: a parser is held only while a chunk
// is decoded, so a thousand streams do not each keep one.
var chunkParsers fastjson.ParserPool

// chunkStore is what a decoded chunk points into. A stream reuses one from
// chunk to chunk, so that decoding a chunk allocates nothing but the text it
// keeps; what a chunk decoded into is valid until the next decode with the
// same store.
type chunkStore struct {
	choices []chatChoice
	usage   chatUsage
	details struct {
		CachedTokens *int `json:"cached_tokens"`
	}
	timings llamaTimings
	ints    [3]int // cached_tokens, cache_n, predicted_n
	strs    []string
}

// decodeChunk parses an OpenAI-style stream chunk into c without reflection
// (encoding/json's reflection was most of the client's CPU per token); what c
// keeps is copied out of the parser. A field of an unexpected type counts as
// absent; data that is not JSON is an error.
func decodeChunk(data []byte, c *chatChunk) error {
	return new(chunkStore).decode(data, c)
}

// decode is decodeChunk into c, which points into s.
func (s *chunkStore) decode(data []byte, c *chatChunk) error {
	*c = chatChunk{Choices: s.choices[:0]}
	clear(s.strs)
	s.strs = s.strs[:0]
	defer func() { s.choices = c.Choices[:0] }()
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
				c.Choices = append(c.Choices, s.decodeChoice(ch))
			}
		case "usage":
			if x.Type() == fastjson.TypeObject {
				s.usage = chatUsage{PromptTokens: x.GetInt("prompt_tokens"), CompletionTokens: x.GetInt("completion_tokens")}
				c.Usage = &s.usage
				if d := x.Get("prompt_tokens_details"); d != nil && d.Type() == fastjson.TypeObject {
					s.details.CachedTokens = intIn(d.Get("cached_tokens"), &s.ints[0])
					c.Usage.PromptTokensDetails = &s.details
				}
			}
		case "timings":
			if x.Type() == fastjson.TypeObject {
				c.Timings = s.decodeTimings(x)
			}
		case "error":
			c.Error = raw(x)
		}
	})
	return nil
}

func (s *chunkStore) decodeChoice(ch *fastjson.Value) chatChoice {
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
					x.Delta.Role = s.str(v)
				case "content":
					x.Delta.Content = s.str(v)
				case "reasoning_content":
					x.Delta.ReasoningContent = s.str(v)
				case "reasoning":
					x.Delta.Reasoning = s.str(v)
				case "tool_calls":
					x.Delta.ToolCalls = raw(v)
				}
			})
		case "text":
			x.Text = s.str(v)
		case "finish_reason":
			x.FinishReason = s.str(v)
		}
	})
	return x
}

func (s *chunkStore) decodeTimings(t *fastjson.Value) *llamaTimings {
	s.timings = llamaTimings{}
	lt := &s.timings
	o, _ := t.Object()
	o.Visit(func(key []byte, v *fastjson.Value) {
		f, _ := v.Float64()
		switch string(key) {
		case "cache_n":
			lt.CacheN = intIn(v, &s.ints[1])
		case "prompt_n":
			lt.PromptN = int(f)
		case "prompt_ms":
			lt.PromptMS = f
		case "prompt_per_second":
			lt.PromptPerSecond = f
		case "predicted_n":
			lt.PredictedN = intIn(v, &s.ints[2])
		case "predicted_ms":
			lt.PredictedMS = f
		case "predicted_per_second":
			lt.PredictedPerSecond = f
		}
	})
	return lt
}

// str is the string x holds, kept in s; nil when x is not a string. (A
// pointer into s.strs stays valid when a later append moves the slice.)
func (s *chunkStore) str(x *fastjson.Value) *string {
	if x.Type() != fastjson.TypeString {
		return nil
	}
	b, _ := x.StringBytes()
	s.strs = append(s.strs, string(b))
	return &s.strs[len(s.strs)-1]
}

// intIn puts the number x holds in *to and returns to; nil when x is absent or
// not a number.
func intIn(x *fastjson.Value, to *int) *int {
	if x == nil || x.Type() != fastjson.TypeNumber {
		return nil
	}
	f, _ := x.Float64()
	*to = int(f)
	return to
}

// raw is the JSON text of x, nil when it is null.
func raw(x *fastjson.Value) json.RawMessage {
	if x.Type() == fastjson.TypeNull {
		return nil
	}
	return x.MarshalTo(nil)
}
