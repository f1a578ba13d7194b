package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine/enginetest"
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
