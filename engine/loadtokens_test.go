package engine

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/schema"
)

// TestLoadTokenWarnings: a level says when the output tokens it counted are
// not the lengths asked (a server that stops early or ignores max_tokens) or
// may be miscounted (no usage, several tokens a chunk: counted 4 times too
// low), and says nothing for a server that gives what was asked.
func TestLoadTokenWarnings(t *testing.T) {
	for _, c := range []struct {
		name string
		s    enginetest.Stream
		want string // "" no warning
	}{
		{"exact", enginetest.Stream{}, ""},
		{"fewer", enginetest.Stream{Tokens: 5}, "fewer output tokens than asked"},
		{"more", enginetest.Stream{Tokens: 35}, "more output tokens than asked (up to 35 for 20)"},
		{"no usage, 4 tokens a chunk", enginetest.Stream{TokensPerChunk: 4, NoUsage: true}, "reported no usage"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.s.Interval = time.Millisecond
			srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response { return c.s.Response(r) })
			defer srv.Close()
			o := LoadOptions{Users: []int{2}, Window: 200 * time.Millisecond, RampUp: -1, InputTokens: 16, OutputTokens: 20}
			levels, _, err := loadEngine(srv.URL).RunLoad(t.Context(), o, nil)
			if err != nil {
				t.Fatal(err)
			}
			l := levels[0].LoadLevel
			got := strings.Join(l.TokenWarnings, "; ")
			if l.Completed == 0 || (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("%d completed, warnings %q, want %q", l.Completed, got, c.want)
			}
		})
	}
}

// TestLoadNoTokenIsFailed: a server that answers every request with a stream
// of no token (200, finish_reason stop, usage 0) serves nothing: its requests
// fail with the reason, the level says so and the sweep stops, where they were
// counted completed with a TTFT of 0 (a TTFT p50 of 0 s at thousands of
// requests/s).
func TestLoadNoTokenIsFailed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"+
			"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":0}}\n\ndata: [DONE]\n\n")
	}))
	defer srv.Close()
	o := LoadOptions{Users: []int{2, 4}, Window: 200 * time.Millisecond, RampUp: -1, InputTokens: 16, OutputTokens: 20}
	levels, c, err := loadEngine(srv.URL).RunLoad(t.Context(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := levels[0].LoadLevel
	if l.Completed != 0 || l.Failed == 0 || l.Latency.TTFTS.N != 0 || !strings.Contains(l.FirstError, "without a token") {
		t.Errorf("completed %d, failed %d, ttft n %d, first error %q", l.Completed, l.Failed, l.Latency.TTFTS.N, l.FirstError)
	}
	if c.StoppedBy != schema.StopErrors || c.Peak != nil {
		t.Errorf("stopped by %q, peak %+v: want errors and no peak", c.StoppedBy, c.Peak)
	}
}
