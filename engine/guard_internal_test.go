package engine

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzReadOpenAI: whatever a server streams, the measurement of a request of
// 16 tokens becomes a RunSample that encodes as JSON (no NaN or infinity gets
// through) with at most its token budget of inter-token latencies.
func FuzzReadOpenAI(f *testing.F) {
	for _, seed := range []string{
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"timings\":{\"predicted_n\":1000000000000,\"predicted_per_second\":1e306,\"prompt_ms\":1e308}}\n\n",
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":-5}}\n\n",
		"data: {\"error\":{\"message\":\"x\"}}\n\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e := &Engine{}
		m := &measurement{}
		bud := budgetFor(16)
		m.asked, m.budget = 16, bud
		_ = e.readOpenAI(&limitedBody{r: bytes.NewReader(b), left: bud.bytes}, m, request{maxTokens: 16}, func(time.Time) {})
		m.guard(bud)
		rs, itl := m.sample(sampleSpec{promptTarget: 8, promptPredicted: 8, maxTokens: 16})
		if _, err := json.Marshal(rs); err != nil {
			t.Fatalf("the sample does not encode: %v (%+v)", err, rs)
		}
		if len(itl) > bud.tokens+len(m.chunks) {
			t.Fatalf("%d inter-token latencies for a budget of %d tokens", len(itl), bud.tokens)
		}
	})
}
