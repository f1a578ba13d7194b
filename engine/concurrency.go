package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/internal/stats"
	"github.com/typhonbench/typhon/schema"
)

// concurrencyRound is what one round of a concurrency test recorded.
type concurrencyRound struct {
	samples []schema.RunSample
	itl     []float64
	ok      int           // successful requests
	tokens  int           // output tokens of the successful requests
	wall    time.Duration // first request sent -> last one finished
}

// aggregateTPS is the round's output tokens over its wall time; 0 when no
// request succeeded.
func (r concurrencyRound) aggregateTPS() float64 {
	if r.ok == 0 || r.wall <= 0 {
		return 0
	}
	return float64(r.tokens) / r.wall.Seconds()
}

// cancelled reports whether a request of the round was cut by a cancel.
func (r concurrencyRound) cancelled() bool {
	for _, s := range r.samples {
		if s.ErrorKind == schema.ErrKindCancelled {
			return true
		}
	}
	return false
}

// concurrency runs a concurrency test: one warmup request, then t.Runs rounds in
// which t.Concurrency requests, each with its own prompt, are sent at once. Every
// request is a RunSample of b.Runs; b.AggregateTPS is the mean over the rounds of
// the output tokens a round delivered over its wall time.
func (e *Engine) concurrency(ctx context.Context, t Test, b *schema.Benchmark) {
	n := max(t.Concurrency, 1)
	b.Concurrency = n
	b.NRuns = n * t.Runs
	b.Notes = append(b.Notes, fmt.Sprintf("%d rounds of %d requests sent at once, each with its own prompt; avg_tps, ttft and stats are per request, aggregate_tps is a round's output tokens over its wall time (first request sent to last finished)", t.Runs, n))

	fixed, ok := e.warmup(ctx, t, b)
	if !ok {
		return
	}

	var win *gpu.Window
	if e.GPU != nil {
		win = e.GPU.Open()
	}
	var itl, aggs []float64
	rounds, cut := 0, false // rounds sent; the last one was cut by a cancel
	for i := 0; i < t.Runs; i++ {
		if ctx.Err() != nil {
			break
		}
		r, err := e.concurrencyRound(ctx, t, n, fixed)
		if err != nil {
			break // ctx done while the prompts were built: nothing was sent
		}
		rounds++
		cut = r.cancelled()
		for j := range r.samples {
			r.samples[j].Round = i + 1
		}
		b.Runs = append(b.Runs, r.samples...)
		itl = append(itl, r.itl...)
		switch a := r.aggregateTPS(); {
		case cut:
			b.Notes = append(b.Notes, fmt.Sprintf("round %d: cut by the cancel, not in aggregate_tps", i+1))
		case a > 0:
			aggs = append(aggs, a)
			b.Notes = append(b.Notes, fmt.Sprintf("round %d: %d of %d requests succeeded, %d output tokens in %.3f s: %.1f tokens/s together",
				i+1, r.ok, n, r.tokens, r.wall.Seconds(), a))
		default:
			b.Notes = append(b.Notes, fmt.Sprintf("round %d: no request succeeded", i+1))
		}
		if refused := firstRefused(r.samples); refused != nil {
			b.Error = fmt.Sprintf("round %d of %d: %s; the remaining rounds were not sent", i+1, t.Runs, refused.Error)
			break
		}
	}
	if win != nil {
		b.GPUStats = win.Close()
	}
	if err := ctx.Err(); err != nil && b.Error == "" {
		if cut {
			b.Error = fmt.Sprintf("cancelled during round %d of %d: %v", rounds, t.Runs, err)
		} else {
			b.Error = fmt.Sprintf("cancelled after %d of %d rounds: %v", rounds, t.Runs, err)
		}
	}
	aggregate(b, itl)
	b.AggregateTPS = round(stats.Mean(aggs), 3)
	for _, a := range aggs {
		b.AggregateTPSRounds = append(b.AggregateTPSRounds, round(a, 3))
	}
	if b.AggregateTPS > 0 && b.AvgTPS > 0 {
		b.Notes = append(b.Notes, fmt.Sprintf("%d users got %.1f tokens/s together against %.1f tokens/s each: x%.2f",
			n, b.AggregateTPS, b.AvgTPS, b.AggregateTPS/b.AvgTPS))
	}
}

// concurrencyRound builds n prompts that differ at their first word (while there
// are markers enough), then sends them at once, one goroutine each; it returns
// when every request has finished or been closed by ctx. The error is ctx's when
// it ended while the prompts were built; nothing was sent then.
func (e *Engine) concurrencyRound(ctx context.Context, t Test, n int, fixed *promptSeed) (concurrencyRound, error) {
	preps := make([]preparedRun, n)
	used := map[string]bool{}
	for i := range preps {
		nonce, seed := "", uint64(0)
		if fixed != nil {
			nonce, seed = fixed.nonce, fixed.seed
		} else {
			nonce, seed = e.nonce.nextExcept(used)
		}
		p, err := e.prepareRun(ctx, t, runOpts{}, nonce, seed)
		if err != nil {
			return concurrencyRound{}, err
		}
		preps[i] = p
	}

	samples := make([]schema.RunSample, n)
	itls := make([][]float64, n)
	ms := make([]*measurement, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range preps {
		wg.Go(func() {
			<-start
			samples[i], itls[i], ms[i] = e.sendRun(ctx, t, runOpts{}, preps[i])
		})
	}
	close(start)
	wg.Wait()

	return summarizeRound(samples, itls, ms), nil
}

// summarizeRound folds a round's requests: the wall time runs from the first
// request sent to the last one finished, failed ones included; the tokens are
// those of the successful requests.
func summarizeRound(samples []schema.RunSample, itls [][]float64, ms []*measurement) concurrencyRound {
	r := concurrencyRound{samples: samples}
	var first, last time.Time
	for i, m := range ms {
		if m == nil || m.start.IsZero() {
			continue
		}
		if first.IsZero() || m.start.Before(first) {
			first = m.start
		}
		if m.end.After(last) {
			last = m.end
		}
		if valid(samples[i]) {
			r.itl = append(r.itl, itls[i]...)
		}
		if samples[i].Success {
			r.ok++
			r.tokens += samples[i].OutputTokens
		}
	}
	if !first.IsZero() {
		r.wall = last.Sub(first)
	}
	return r
}

func firstRefused(rs []schema.RunSample) *schema.RunSample {
	for i := range rs {
		if rs[i].ErrorKind == schema.ErrKindConnectionRefused {
			return &rs[i]
		}
	}
	return nil
}
