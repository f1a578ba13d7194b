package typhon_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/schema"
)

// TestZeusStopsAfterTheServerGivesOut: on a server that does not say its
// context (an OpenAI-compatible one), the 128K test is sent; when the server
// answers it out of memory, out of context, by dropping the connection or by
// taking a fraction of the prompt (silent truncation), the
// 256K test is recorded as not run with the reason, never sent, and the job
// ends with the baseline's figures.
func TestZeusStopsAfterTheServerGivesOut(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, want string
		resp       enginetest.Script
	}{
		{"out of memory", "out of memory", fixed(enginetest.Response{Status: 500,
			Body: `{"error":{"message":"CUDA error: out of memory (failed to allocate 12.5 GiB)"}}`})},
		{"context", "exceeds the available context", fixed(enginetest.Response{Status: 400,
			Body: `{"error":{"message":"the request exceeds the available context size (65536 tokens)"}}`})},
		{"connection dropped", "zeus_131072", fixed(enginetest.Response{Drop: true})},
		{"silent truncation", "took 4,096 of", enginetest.Stream{PromptTokens: 4096}.Response},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var biggest atomic.Int64
			srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
				n := int64(r.PromptTokens())
				for old := biggest.Load(); n > old && !biggest.CompareAndSwap(old, n); old = biggest.Load() {
				}
				if n > 100000 {
					return c.resp(r)
				}
				return enginetest.Stream{}.Response(r)
			})
			defer srv.Close()
			r := typhon.Runner{URL: srv.URL, DataDir: t.TempDir(), Mode: typhon.ModeZeus, ServerBackWait: 100 * time.Millisecond}
			res, err := r.Run(t.Context(), nil)
			if res == nil {
				t.Fatalf("no result: %v", err)
			}
			if got := biggest.Load(); got > 200000 {
				t.Errorf("a prompt of %d tokens was sent after the 128K test failed", got)
			}
			var last schema.Benchmark
			for _, b := range res.Benchmarks {
				t.Logf("%s: skipped %v (%s) error %q", b.TestID, b.Skipped, b.SkipReason, b.Error)
				last = b
			}
			if last.TestID != "zeus_262144" || !last.Skipped || !strings.Contains(last.SkipReason, c.want) {
				t.Errorf("last test %s skipped %v (%q), want zeus_262144 skipped saying %q", last.TestID, last.Skipped, last.SkipReason, c.want)
			}
			t.Logf("status %s, err %v", res.Status, err)
		})
	}
}

func fixed(resp enginetest.Response) enginetest.Script {
	return func(enginetest.Request) enginetest.Response { return resp }
}

// TestZeusCancelDuringPrefill: cancelling a zeus run while the server is
// still on the 128K prompt's prefill (no answer yet) ends the run within a
// second, cancelled, with the request given up.
func TestZeusCancelDuringPrefill(t *testing.T) {
	t.Parallel()
	srv := enginetest.NewServer(func(r enginetest.Request) enginetest.Response {
		if r.PromptTokens() > 100000 {
			return enginetest.Response{HeaderDelay: time.Hour}
		}
		return enginetest.Stream{}.Response(r)
	})
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	progress := make(chan typhon.Progress, 256)
	r := typhon.Runner{URL: srv.URL, DataDir: t.TempDir(), Mode: typhon.ModeZeus}
	done := make(chan error, 1)
	var res *typhon.Result
	go func() {
		var err error
		res, err = r.Run(ctx, progress)
		done <- err
	}()
	deadline := time.After(2 * time.Minute)
	for srv.InFlight() == 0 || !strings.Contains(lastTest(progress), "zeus_131072") && !bigInFlight(srv) {
		select {
		case err := <-done:
			t.Fatalf("run ended before the 128K test: %v", err)
		case <-deadline:
			t.Fatal("the 128K request never arrived")
		case <-time.After(20 * time.Millisecond):
		}
	}
	at := time.Now()
	cancel()
	select {
	case err := <-done:
		if d := time.Since(at); d > 5*time.Second || !errors.Is(err, context.Canceled) || res.Status != schema.StatusCancelled {
			t.Errorf("after %v: err %v, status %s; want context.Canceled, cancelled, soon", d, err, res.Status)
		}
		t.Logf("ended %v after the cancel: %v", time.Since(at).Round(time.Millisecond), err)
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not end within 30 s of the cancel")
	}
}

func lastTest(ch <-chan typhon.Progress) string {
	s := ""
	for {
		select {
		case p := <-ch:
			s = p.CurrentTest
		default:
			return s
		}
	}
}

func bigInFlight(s *enginetest.Server) bool {
	reqs := s.Requests()
	return s.InFlight() > 0 && len(reqs) > 0 && reqs[len(reqs)-1].PromptTokens() > 100000
}
