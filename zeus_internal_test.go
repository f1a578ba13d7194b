package typhon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/schema"
)

// No t.Parallel in this file: TestRunCancel counts the goroutines of package
// typhon, and a paused parallel test of the package is one.

// The shapes below are llama-server b11669's GET /slots during a zeus test's
// warmup, its prefill (n_prompt_tokens runs one batch ahead of what is done),
// and its decode.
func TestSlotText(t *testing.T) {
	cases := []struct {
		name string
		slot slotState
		want string
	}{
		{"warmup", slotState{IsProcessing: true, PromptTokens: 131, PromptProcessed: 131, NextToken: []byte(`[{"n_decoded":3}]`)}, "warmup, "},
		{"prefill", slotState{IsProcessing: true, PromptTokens: 34816, PromptProcessed: 32768, NextToken: []byte(`[{"n_decoded":0}]`)},
			"prefill 32,768 of about 130,688 tokens (25%), "},
		{"decode", slotState{IsProcessing: true, PromptTokens: 130686, PromptProcessed: 130686, NextToken: []byte(`{"n_decoded":57}`)},
			"decoding at a depth of 130,686 tokens (57 generated), "},
	}
	for _, c := range cases {
		if got := slotText(c.slot, 130688); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestWatchLongTest: a zeus test's progress names the prefill's state every
// interval from a llama.cpp server's /slots (with the API key), other tests get
// no watch, and stop ends the watch before it returns.
func TestWatchLongTest(t *testing.T) {
	slots := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slots" || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `[{"id":0,"is_processing":true,"n_prompt_tokens":51200,"n_prompt_tokens_processed":49152,"next_token":[{"n_decoded":0}]}]`)
	}))
	defer slots.Close()
	eng := &engine.Engine{Target: engine.Target{BaseURL: slots.URL, Kind: "llama.cpp", APIKey: "k"}}
	zeus := engine.ZeusPlan(0).Tests[1]
	got := make(chan Progress, 16)
	send := func(p Progress) {
		select {
		case got <- p:
		default:
		}
	}
	r := &Runner{}
	stop := r.watchLongTest(t.Context(), eng, zeus, Progress{Done: 1, Total: 3}, send)
	var p Progress
	select {
	case p = <-got:
	case <-time.After(3 * LongTestProgressInterval):
		t.Fatal("no progress while the test runs")
	}
	stop()
	if p.Done != 1 || p.Total != 3 || !strings.HasPrefix(p.CurrentTest, zeus.Name+": prefill 49,152 of about 130,688 tokens (37%), ") {
		t.Errorf("progress %+v", p)
	}
	n := len(got)
	time.Sleep(LongTestProgressInterval + 500*time.Millisecond)
	if len(got) != n {
		t.Error("progress sent after stop")
	}
	other := engine.Test{ID: "baseline_short", Category: schema.CategoryBaseline}
	r.watchLongTest(t.Context(), eng, other, Progress{}, func(Progress) { t.Error("a baseline test was watched") })()
}
