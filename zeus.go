package typhon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/schema"
)

// LongTestProgressInterval is how often Run updates Progress.CurrentTest while
// a zeus test runs, so that a prefill of several minutes shows how far it is.
const LongTestProgressInterval = 2 * time.Second

// watchLongTest keeps Progress.CurrentTest live during a zeus test: every
// LongTestProgressInterval it sends the test's name with the time it has run
// and, on llama.cpp, how far the prefill or the decode is (from GET /slots).
// The returned stop ends the watch and waits for it; it is a no-op for other
// tests.
func (r *Runner) watchLongTest(ctx context.Context, eng *engine.Engine, t engine.Test, base Progress, send func(Progress)) (stop func()) {
	if t.Category != schema.CategoryZeus || t.SkipReason != "" {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: LongTestProgressInterval}
		start := time.Now()
		tick := time.NewTicker(LongTestProgressInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			p := base
			p.CurrentTest = t.Name + ": " + longTestState(ctx, client, eng.Target, t.PromptTokens) + time.Since(start).Round(time.Second).String()
			send(p)
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// slotState is what llama-server's GET /slots says of a slot. While it
// prefills, n_prompt_tokens counts the tokens up to the batch in progress, not
// the whole prompt.
type slotState struct {
	IsProcessing    bool            `json:"is_processing"`
	PromptTokens    int             `json:"n_prompt_tokens"`
	PromptProcessed int             `json:"n_prompt_tokens_processed"`
	NextToken       json.RawMessage `json:"next_token"`
}

// longTestState describes how far the server is with the request in flight,
// followed by ", "; "" when the server does not say (not llama.cpp, slots
// endpoint off). target is the prompt length the test aims at.
func longTestState(ctx context.Context, client *http.Client, tg engine.Target, target int) string {
	if !strings.HasPrefix(strings.ToLower(tg.Kind), "llama") {
		return ""
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(tg.BaseURL, "/")+"/slots", nil)
	if err != nil {
		return ""
	}
	if tg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+tg.APIKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var slots []slotState
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&slots) != nil {
		return ""
	}
	for _, s := range slots {
		if s.IsProcessing && s.PromptTokens > 0 {
			return slotText(s, target)
		}
	}
	return ""
}

// slotText says how far a busy slot is with a request of about target prompt
// tokens.
func slotText(s slotState, target int) string {
	total := max(target, s.PromptTokens)
	n := decoded(s.NextToken)
	switch {
	case s.PromptTokens < 1024 && total > 4*s.PromptTokens:
		return "warmup, "
	case n == 0 && s.PromptProcessed < total:
		return fmt.Sprintf("prefill %s of about %s tokens (%d%%), ", engine.Thousands(s.PromptProcessed),
			engine.Thousands(total), 100*s.PromptProcessed/total)
	default:
		return fmt.Sprintf("decoding at a depth of %s tokens (%s generated), ", engine.Thousands(s.PromptProcessed),
			strconv.Itoa(n))
	}
}

// decoded reads n_decoded from a slot's next_token (an object, or an array of
// them in newer builds).
func decoded(raw json.RawMessage) int {
	var one struct {
		N int `json:"n_decoded"`
	}
	if json.Unmarshal(raw, &one) == nil {
		return one.N
	}
	var many []struct {
		N int `json:"n_decoded"`
	}
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return many[0].N
	}
	return 0
}
