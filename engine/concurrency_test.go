package engine_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/schema"
)

func concurrencyTest(n, rounds, maxTokens int) engine.Test {
	return engine.Test{ID: fmt.Sprint(engine.ConcurrencyPrefix, n), Name: fmt.Sprintf("Concurrency — %d users", n),
		Category: schema.CategoryConcurrency, CtxSize: 2048, PromptTokens: 60, MaxTokens: maxTokens,
		Runs: rounds, Concurrency: n}
}

// roundsOf numbers a concurrency test's requests as the server sees them, n per
// round: probes and the warmup (the first other request) get -1, the timed ones
// 0, 1, 2... in order of arrival, so request k belongs to round k/n (a round
// starts after the previous one has finished).
type roundsOf struct {
	n int

	mu      sync.Mutex
	seen    int
	release map[int]chan struct{}
}

func (r *roundsOf) index(req enginetest.Request) int {
	if probe(req) {
		return -1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen++
	return r.seen - 2
}

// barrier holds timed request k until the last request of its round has
// arrived, or 10 s have passed: requests sent one after another never meet.
func (r *roundsOf) barrier(k int) {
	r.mu.Lock()
	if r.release == nil {
		r.release = map[int]chan struct{}{}
	}
	ch, ok := r.release[k/r.n]
	if !ok {
		ch = make(chan struct{})
		r.release[k/r.n] = ch
	}
	if k%r.n == r.n-1 {
		close(ch)
	}
	r.mu.Unlock()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// TestConcurrencyOverlap: the n requests of a round are in flight together, each
// with its own prompt, and every one is a run of the benchmark.
func TestConcurrencyOverlap(t *testing.T) {
	t.Parallel()
	tests := []struct{ n, rounds int }{{2, 2}, {4, 2}, {8, 1}}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.n, " users"), func(t *testing.T) {
			t.Parallel()
			rs := &roundsOf{n: tc.n}
			stream := enginetest.Stream{Timings: true, Interval: time.Millisecond}
			srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
				if k := rs.index(r); k >= 0 {
					rs.barrier(k)
				}
				return stream.Response(r)
			})
			defer srv.Close()
			tt := concurrencyTest(tc.n, tc.rounds, 16)
			b := newEngine(srv.URL, engine.KindLlamaCpp).RunTest(t.Context(), tt)

			// At least n: a handler of the previous round may not have returned yet
			// when the client has read its whole stream and starts the next round.
			if got := srv.MaxInFlight(); got < tc.n {
				t.Errorf("max requests in flight = %d, want at least %d", got, tc.n)
			}
			want(t, "concurrency", b.Concurrency, tc.n)
			want(t, "n_runs", b.NRuns, tc.n*tc.rounds)
			want(t, "runs", len(b.Runs), tc.n*tc.rounds)
			want(t, "successful_runs", b.SuccessfulRuns, tc.n*tc.rounds)
			want(t, "error", b.Error, "")
			if b.WarmupRun == nil || !b.WarmupRun.Success {
				t.Errorf("warmup = %+v, want one successful warmup", b.WarmupRun)
			}
			if b.AggregateTPS <= 0 || b.AvgTPS <= 0 || b.Stats == nil || b.Stats.TTFTP50S <= 0 {
				t.Errorf("aggregate_tps %v, avg_tps %v, stats %+v: want all set", b.AggregateTPS, b.AvgTPS, b.Stats)
			}
			// The timed requests as the server saw them: n per round, in flight
			// together, and no two alike at their first word within a round.
			var timed []enginetest.Request
			for _, r := range srv.Requests() {
				if !probe(r) {
					timed = append(timed, r)
				}
			}
			timed = timed[1:] // the warmup
			want(t, "timed requests", len(timed), tc.n*tc.rounds)
			for round := range tc.rounds {
				first := map[string]bool{}
				for _, r := range timed[round*tc.n : (round+1)*tc.n] {
					w := strings.Fields(r.User)[0]
					if first[w] {
						t.Errorf("round %d: two requests start with %q", round, w)
					}
					first[w] = true
				}
				if last := timed[(round+1)*tc.n-1]; last.InFlight < tc.n {
					t.Errorf("round %d: the last request arrived with %d in flight, want at least %d", round, last.InFlight, tc.n)
				}
			}
		})
	}
}

// TestConcurrencyAggregate: aggregate_tps is, averaged over the rounds, a round's
// output tokens over the time from its first request sent to its last one
// finished, which the samples' own start and elapsed times give.
func TestConcurrencyAggregate(t *testing.T) {
	t.Parallel()
	const n, rounds = 3, 3
	const first, interval = 20 * time.Millisecond, 2 * time.Millisecond
	// Requests of a round produce 8, 16 and 24 tokens.
	tokens := func(k int) int { return 8 * (k%n + 1) }
	rs := &roundsOf{n: n}
	srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
		s := enginetest.Stream{Timings: true, FirstDelay: first, Interval: interval}
		if k := rs.index(r); k >= 0 {
			s.Tokens = tokens(k)
		}
		return s.Response(r)
	})
	defer srv.Close()
	b := newEngine(srv.URL, engine.KindLlamaCpp).RunTest(t.Context(), concurrencyTest(n, rounds, 24))
	want(t, "successful_runs", b.SuccessfulRuns, n*rounds)
	if len(b.Runs) != n*rounds {
		t.Fatalf("%d runs, want %d", len(b.Runs), n*rounds)
	}

	var sum, tps float64
	valid := 0 // requests that stop early (8 and 16 of 24 tokens) are excluded
	var prevEnd time.Time
	for round := range rounds {
		runs := b.Runs[round*n : (round+1)*n]
		var start, end time.Time
		out := 0
		for _, r := range runs {
			fin := r.StartedAt.Add(time.Duration(r.ElapsedS * float64(time.Second)))
			if start.IsZero() || r.StartedAt.Before(start) {
				start = r.StartedAt
			}
			if fin.After(end) {
				end = fin
			}
			out += r.OutputTokens
			if r.Excluded == "" {
				tps += r.TPS
				valid++
			}
		}
		want(t, fmt.Sprint("round ", round, " output tokens"), out, 8+16+24)
		if start.Before(prevEnd) {
			t.Errorf("round %d started at %v, before the previous round ended at %v", round, start, prevEnd)
		}
		prevEnd = end
		wall := end.Sub(start).Seconds()
		// The server sleeps at least this long for the round's longest request.
		if least := (first + 23*interval).Seconds(); wall < least {
			t.Errorf("round %d: wall %v s, shorter than the scripted %v s", round, wall, least)
		}
		sum += float64(out) / wall
	}
	if want := sum / rounds; math.Abs(b.AggregateTPS-want) > want*1e-3 {
		t.Errorf("aggregate_tps = %v, want %v: the mean over rounds of tokens / (last finished - first sent)", b.AggregateTPS, want)
	}
	want(t, "valid_runs", b.ValidRuns, valid)
	if want := tps / float64(valid); valid != rounds || math.Abs(b.AvgTPS-want) > 1e-3 {
		t.Errorf("avg_tps = %v over %d valid runs, want the mean %v of the %d full-length requests", b.AvgTPS, valid, want, rounds)
	}
	if b.AvgElapsedS <= 0 || b.Stats == nil || b.Stats.TTFTP50S < first.Seconds() {
		t.Errorf("avg_elapsed_s %v, stats %+v: want per-request figures, ttft at least the scripted %v", b.AvgElapsedS, b.Stats, first)
	}
}

// TestConcurrencyFailures: a request that fails among n is kept with its reason,
// and the round's aggregate counts the others.
func TestConcurrencyFailures(t *testing.T) {
	t.Parallel()
	const n, rounds = 4, 2
	fail := enginetest.Response{Status: 503, Body: `{"error":{"message":"no slot available"}}`}
	tests := []struct {
		name      string
		fails     func(k int) bool
		wantOK    int
		wantError string // in Benchmark.Error; "" for none
		wantNote  string
	}{
		{"one of four in the first round", func(k int) bool { return k == 1 }, n*rounds - 1, "", "3 of 4 requests succeeded"},
		{"a whole round", func(k int) bool { return k < n }, n, "", "round 1: no request succeeded"},
		{"every request", func(int) bool { return true }, 0, "every run failed", "round 2: no request succeeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs := &roundsOf{n: n}
			srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
				if k := rs.index(r); k >= 0 && tc.fails(k) {
					return fail
				}
				return enginetest.Stream{Timings: true}.Response(r)
			})
			defer srv.Close()
			b := newEngine(srv.URL, engine.KindLlamaCpp).RunTest(t.Context(), concurrencyTest(n, rounds, 8))
			want(t, "runs", len(b.Runs), n*rounds)
			want(t, "successful_runs", b.SuccessfulRuns, tc.wantOK)
			failed := 0
			for i, r := range b.Runs {
				if r.Success {
					continue
				}
				failed++
				if r.ErrorKind != "http_503" || !strings.Contains(r.Error, "no slot available") {
					t.Errorf("run %d: %s: %q, want http_503 with the server's reason", i, r.ErrorKind, r.Error)
				}
			}
			want(t, "failed runs", failed, n*rounds-tc.wantOK)
			if tc.wantError == "" && b.Error != "" || !strings.Contains(b.Error, tc.wantError) {
				t.Errorf("error = %q, want %q", b.Error, tc.wantError)
			}
			if (tc.wantOK > 0) != (b.AggregateTPS > 0) {
				t.Errorf("aggregate_tps = %v with %d successful runs", b.AggregateTPS, tc.wantOK)
			}
			if !strings.Contains(strings.Join(b.Notes, "\n"), tc.wantNote) {
				t.Errorf("notes %q, want one saying %q", b.Notes, tc.wantNote)
			}
		})
	}
}

// TestConcurrencyCancel runs alone (not parallel): cancelling mid-round closes
// every request in flight, RunTest returns with them recorded as cancelled, and
// no goroutine is left.
func TestConcurrencyCancel(t *testing.T) {
	const n = 4
	arrived := make(chan struct{}, 16)
	rs := &roundsOf{n: n}
	srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
		if rs.index(r) < 0 {
			return enginetest.Stream{}.Response(r)
		}
		arrived <- struct{}{}
		return enginetest.Response{Hang: true, Chunks: []enginetest.Chunk{
			{Data: `{"choices":[{"index":0,"delta":{"content":" a"}}]}`},
		}}
	})
	defer srv.Close()
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan schema.Benchmark)
	go func() { done <- newEngine(srv.URL, engine.KindLlamaCpp).RunTest(ctx, concurrencyTest(n, 3, 16)) }()
	for range n {
		select {
		case <-arrived:
		case <-time.After(30 * time.Second):
			t.Fatalf("fewer than %d requests in flight", n)
		}
	}
	cancel()
	var b schema.Benchmark
	select {
	case b = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("RunTest did not return after cancel")
	}
	want(t, "runs", len(b.Runs), n)
	for i, r := range b.Runs {
		if r.ErrorKind != schema.ErrKindCancelled {
			t.Errorf("run %d: %s %q, want cancelled", i, r.ErrorKind, r.Error)
		}
	}
	if b.AggregateTPS != 0 || !strings.Contains(strings.Join(b.Notes, "\n"), "round 1: cut by the cancel") {
		t.Errorf("aggregate_tps %v, notes %q: want the cut round left out", b.AggregateTPS, b.Notes)
	}
	if !strings.Contains(b.Error, "cancelled during round 1 of 3") {
		t.Errorf("error = %q, want it to say cancelled during round 1 of 3", b.Error)
	}
	deadline := time.Now().Add(10 * time.Second)
	for (runtime.NumGoroutine() > before || srv.InFlight() > 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	want(t, "requests in flight at the server", srv.InFlight(), 0)
	if g := runtime.NumGoroutine(); g > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after, %d before:\n%s", g, before, buf[:runtime.Stack(buf, true)])
	}
}
