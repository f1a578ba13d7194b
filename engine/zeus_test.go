package engine

import (
	"strings"
	"testing"

	"github.com/typhonbench/typhon/schema"
)

func TestZeusPlan(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		serverCtx int
		skipped   []string // ids of the zeus tests skipped
		reason    string   // in every skip reason
	}{
		{"unknown context", 0, nil, ""},
		{"4,096 tokens", 4096, []string{"zeus_131072", "zeus_262144"}, "the server gives a request at most 4,096"},
		{"131,072 tokens", 131072, []string{"zeus_262144"}, "needs 262,144 tokens of context; the server gives a request at most 131,072"},
		{"262,144 tokens", 262144, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, err := BuildPlan(ModeZeus, c.serverCtx, 0)
			if err != nil || p.Mode != ModeZeus || len(p.Tests) != 3 || p.Tests[0].ID != TestBaseline || p.Tests[0].SkipReason != "" {
				t.Fatalf("plan %+v, err %v; want baseline_short and two zeus tests", p, err)
			}
			var skipped []string
			for _, z := range p.Tests[1:] {
				if z.Category != schema.CategoryZeus || z.Runs != 1 || z.MaxTokens != ZeusMaxTokens ||
					z.PromptTokens != z.CtxSize-ZeusReserve || z.WarmupPromptTokens != BaselinePromptTokens {
					t.Errorf("test %+v: want one run of a prompt filling the context but %d tokens, short warmup", z, ZeusReserve)
				}
				if z.SkipReason != "" {
					skipped = append(skipped, z.ID)
					if !strings.Contains(z.SkipReason, c.reason) {
						t.Errorf("%s: skip reason %q, want %q in it", z.ID, z.SkipReason, c.reason)
					}
				}
			}
			if strings.Join(skipped, ",") != strings.Join(c.skipped, ",") {
				t.Errorf("skipped %v, want %v", skipped, c.skipped)
			}
		})
	}
}
