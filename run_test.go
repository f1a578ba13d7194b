package typhon_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/engine/enginetest"
	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/gputest"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// fakePlan is a plan of n small tests (2 timed runs each) for the scripted
// server. Test i asks for 8+i tokens, so a script can tell the tests apart.
func fakePlan(n int) *engine.Plan {
	p := &engine.Plan{Mode: typhon.ModeQuick}
	for i := range n {
		p.Tests = append(p.Tests, engine.Test{
			ID: "test_" + string(rune('a'+i)), Name: "Test " + string(rune('A'+i)), Category: schema.CategoryBaseline,
			CtxSize: 2048, PromptTokens: 32, MaxTokens: 8 + i, Runs: 2,
		})
	}
	return p
}

// secondTest reports whether a request belongs to the second test of fakePlan.
func secondTest(r enginetest.Request) bool { return r.MaxTokens == 9 }

func fakeGPU() *gputest.Sampler {
	return &gputest.Sampler{
		GPUs:   []schema.GPUInfo{{Index: 0, Name: "Fake GPU", MemoryTotalMB: 24576}},
		Script: []gputest.Step{{Readings: []gpu.Reading{{Index: 0, MemUsedMB: gputest.F(8000), PowerW: gputest.F(200)}}}},
	}
}

// noKeepAlive makes every request dial, so a closed listener refuses the next one.
func noKeepAlive() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

// runCase is one Runner.Run on the fakes: what to start, and what must come out.
type runCase struct {
	name   string
	script func(s *serverCtl) enginetest.Script // nil: a well-formed stream
	runner func(r *typhon.Runner)               // changes to the Runner
	cancel bool                                 // cancel ctx at the second test's first request

	wantErr     error         // errors.Is; nil: no error
	wantStatus  schema.Status // of the result
	wantTests   int           // benchmarks in the result
	wantOK      int           // successful runs over all benchmarks
	wantRecord  bool          // a record on disk, with the result's status and tests
	wantResErr  string        // substring of Result.Error
	wantGPUStat bool          // the first benchmark has GPU figures
	wantNoGPU   string        // substring of Result.GPUUnavailable
}

// serverCtl lets a script stop the server's listener.
type serverCtl struct {
	srv  *enginetest.Server
	once sync.Once
}

func (c *serverCtl) stop() { c.once.Do(func() { go c.srv.Listener.Close() }) }

func runCases() []runCase {
	stream := enginetest.Stream{Interval: 5 * time.Millisecond}
	return []runCase{
		{name: "complete", wantStatus: schema.StatusComplete, wantTests: 2, wantOK: 4, wantRecord: true, wantGPUStat: true},
		{name: "no GPU: the run goes on", runner: func(r *typhon.Runner) {
			r.GPU = &gputest.Sampler{Err: errors.Join(gpu.ErrGPUUnavailable, errors.New("no driver"))}
		}, wantStatus: schema.StatusComplete, wantTests: 2, wantOK: 4, wantRecord: true, wantNoGPU: "no driver"},
		{name: "every test fails", script: func(*serverCtl) enginetest.Script {
			return func(enginetest.Request) enginetest.Response { return enginetest.Response{Status: 500, Body: "boom"} }
		}, wantErr: typhon.ErrAllTestsFailed, wantStatus: schema.StatusFailed, wantTests: 2, wantRecord: true,
			wantResErr: "every test failed: test_a"},
		{name: "server stops: the tests left are not run", script: func(c *serverCtl) enginetest.Script {
			return func(r enginetest.Request) enginetest.Response {
				if secondTest(r) {
					c.stop() // the warmup is answered, the timed runs are refused
				}
				return stream.Response(r)
			}
		}, runner: func(r *typhon.Runner) {
			r.Plan = fakePlan(3)
			r.HTTPClient = noKeepAlive()
			r.ServerBackWait = 100 * time.Millisecond
		}, wantErr: typhon.ErrServerDown, wantStatus: schema.StatusFailed, wantTests: 3, wantOK: 2, wantRecord: true,
			wantResErr: "stopped accepting connections during test_b"},
		{name: "cancelled mid-test keeps the record", script: func(*serverCtl) enginetest.Script {
			return func(r enginetest.Request) enginetest.Response {
				return enginetest.Stream{Tokens: 2, Hang: secondTest(r)}.Response(r)
			}
		}, cancel: true, wantErr: context.Canceled, wantStatus: schema.StatusCancelled, wantTests: 2, wantOK: 2, wantRecord: true,
			wantResErr: "cancelled"},
		{name: "no server", runner: func(r *typhon.Runner) { r.URL = closedURL() },
			wantErr: typhon.ErrNoServer, wantStatus: schema.StatusFailed},
		{name: "unwritable data dir", runner: func(r *typhon.Runner) {
			r.DataDir = filepath.Join(r.DataDir, "file")
			_ = os.WriteFile(r.DataDir, []byte("x"), 0o600)
		}, wantErr: errAny, wantStatus: schema.StatusFailed},
	}
}

// errAny matches any error in runCase.wantErr.
var errAny = errors.New("any error")

func closedURL() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "http://127.0.0.1:1"
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

// TestRunOnFakes runs Runner.Run on the scripted server and GPU: no test bed.
func TestRunOnFakes(t *testing.T) {
	t.Parallel()
	for _, tc := range runCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkRun(t, tc)
		})
	}
}

func checkRun(t *testing.T, tc runCase) {
	ctl := &serverCtl{}
	script := enginetest.Stream{Interval: 5 * time.Millisecond}.Response
	if tc.script != nil {
		script = tc.script(ctl)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if tc.cancel {
		inner := script
		script = func(r enginetest.Request) enginetest.Response {
			if secondTest(r) {
				cancel()
			}
			return inner(r)
		}
	}
	ctl.srv = enginetest.NewServer(script)
	defer ctl.srv.Close()
	r := typhon.Runner{URL: ctl.srv.URL, DataDir: t.TempDir(), GPU: fakeGPU(), Plan: fakePlan(2), GPUInterval: 10 * time.Millisecond}
	if tc.runner != nil {
		tc.runner(&r)
	}
	res, err := r.Run(ctx, nil)
	switch {
	case tc.wantErr == nil && err != nil:
		t.Fatalf("Run() error = %v, want none", err)
	case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
		t.Fatalf("Run() error = %v, want %v", err, tc.wantErr)
	}
	checkResult(t, tc, res, r.DataDir)
}

func checkResult(t *testing.T, tc runCase, res *typhon.Result, dir string) {
	t.Helper()
	if res == nil {
		t.Fatal("Run() returned no result")
	}
	ok := 0
	for _, b := range res.Benchmarks {
		ok += b.SuccessfulRuns
	}
	if res.Status != tc.wantStatus || len(res.Benchmarks) != tc.wantTests || ok != tc.wantOK {
		t.Errorf("result = %s with %d tests, %d runs ok; want %s with %d, %d", res.Status, len(res.Benchmarks), ok,
			tc.wantStatus, tc.wantTests, tc.wantOK)
	}
	if !strings.Contains(res.Error, tc.wantResErr) || (tc.wantResErr == "" && tc.wantErr == nil && res.Error != "") {
		t.Errorf("Result.Error = %q, want it to hold %q", res.Error, tc.wantResErr)
	}
	if tc.wantGPUStat && (len(res.Benchmarks) == 0 || res.Benchmarks[0].GPUStats.Samples == 0) {
		t.Errorf("first benchmark has no GPU samples: %+v", res.Benchmarks)
	}
	if !strings.Contains(res.GPUUnavailable, tc.wantNoGPU) || (tc.wantNoGPU != "") != (res.GPUUnavailable != "") {
		t.Errorf("GPUUnavailable = %q, want %q", res.GPUUnavailable, tc.wantNoGPU)
	}
	rec, err := (&report.Store{Dir: dir}).Load(res.RunID)
	switch {
	case !tc.wantRecord && err == nil:
		t.Errorf("a run that never reached a test wrote record %s", rec.RunID)
	case tc.wantRecord && err != nil:
		t.Errorf("record: %v", err)
	case tc.wantRecord && (rec.Status != res.Status || len(rec.Benchmarks) != len(res.Benchmarks)):
		t.Errorf("record = %s with %d tests, want %s with %d", rec.Status, len(rec.Benchmarks), res.Status, len(res.Benchmarks))
	}
}
