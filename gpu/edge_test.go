package gpu

import (
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/typhonbench/typhon/schema"
)

// constant plays a GPU at a constant draw: a reading every 0.1 s from 0 s to
// until, with the energy counter advancing at watts (NVML counts millijoules).
func constant(index int, watts, memMB float64, procs map[int]float64, until float64) func(s float64) Reading {
	return func(s float64) Reading {
		return Reading{Index: index, At: at(s), PowerW: f(watts), MemUsedMB: f(memMB),
			EnergyMJ: f(1e9 + watts*1000*s), ProcessMemMB: procs}
	}
}

// play observes one round of each GPU every 0.1 s in [from, to], opening and
// closing windows at their instants; it returns the windows' stats.
func play(r *Recorder, clk *fakeClock, from, to float64, gpus []func(float64) Reading, spans [][2]float64) []schema.GPUStats {
	r.now = clk.Now
	wins := make([]*Window, len(spans))
	stats := make([]schema.GPUStats, len(spans))
	for k := int(math.Round(from * 1000)); k <= int(math.Round(to*1000)); k++ {
		s := float64(k) / 1000
		clk.Set(at(s))
		for i, sp := range spans {
			if k == int(math.Round(sp[0]*1000)) {
				wins[i] = r.Open()
			}
			if k == int(math.Round(sp[1]*1000)) {
				stats[i] = wins[i].Close()
			}
		}
		if k%100 == 0 {
			var rds []Reading
			for _, g := range gpus {
				rds = append(rds, g(s))
			}
			r.observe(rds, nil)
		}
	}
	return stats
}

func TestTwoGPUsReportTheServersOnly(t *testing.T) {
	t.Parallel()
	// The server (PID 100) on GPU 0 at 300 W holding 20 GB; another job (PID 200)
	// on GPU 1 at 60 W holding 30 GB.
	r := &Recorder{PIDs: []int{100}, parent: func(int) (int, error) { return 0, errors.New("gone") }}
	gpus := []func(float64) Reading{
		constant(0, 300, 20000, map[int]float64{100: 19000}, 3),
		constant(1, 60, 30000, map[int]float64{200: 29000}, 3),
	}
	st := play(r, &fakeClock{}, 0, 3, gpus, [][2]float64{{1, 3}})[0]
	want := map[string]any{"peak VRAM": 20000.0, "peak power": 300.0, "energy": 600.0, "selection": SelectServer, "GPUs": 1}
	got := map[string]any{"peak VRAM": deref(st.PeakVRAMUsedMB), "peak power": deref(st.PeakPowerW),
		"energy": deref(st.EnergyJ), "selection": st.GPUSelection, "GPUs": len(st.PerGPU)}
	t.Logf("two GPUs, server on GPU 0: %v", got)
	if diff := cmp.Diff(want, got, approx); diff != "" {
		t.Errorf("two GPUs, server on GPU 0 (-want +got):\n%s", diff)
	}
	if len(st.PerGPU) == 1 && st.PerGPU[0].Index != 0 {
		t.Errorf("per_gpu index = %d, want 0", st.PerGPU[0].Index)
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func TestWindowEdgesAtConstantPower(t *testing.T) {
	t.Parallel()
	// Readings at every tenth of a second; each window opens 10 ms after one, so
	// its first reading comes 90 ms after Open.
	spans := [][2]float64{{1.01, 1.16}, {2.01, 2.46}, {3.01, 4.01}}
	for _, tc := range []struct {
		name    string
		counter bool
	}{{"energy counter", true}, {"power only", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := constant(0, 300, 1000, nil, 5)
			if !tc.counter {
				g = func(s float64) Reading { rd := constant(0, 300, 1000, nil, 5)(s); rd.EnergyMJ = nil; return rd }
			}
			stats := play(&Recorder{}, &fakeClock{}, 0, 5, []func(float64) Reading{g}, spans)
			for i, st := range stats {
				secs := spans[i][1] - spans[i][0]
				want := 300 * secs
				t.Logf("%.2f s window at 300 W: energy %.2f J (power x time %.2f J), avg power %.2f W", secs, deref(st.EnergyJ), want, deref(st.AvgPowerW))
				if got := deref(st.EnergyJ); math.Abs(got-want) > 0.02*want {
					t.Errorf("%.2f s window: energy %.2f J, want %.2f J within 2%%", secs, got, want)
				}
				if got := deref(st.AvgPowerW); math.Abs(got-300) > 6 {
					t.Errorf("%.2f s window: avg power %.2f W, want 300 W", secs, got)
				}
			}
		})
	}
}

func TestWindowEdgeCases(t *testing.T) {
	t.Parallel()
	t.Run("a 60 ms window between two readings reports the latest one", func(t *testing.T) {
		t.Parallel()
		st := play(&Recorder{}, &fakeClock{}, 0, 1, []func(float64) Reading{constant(0, 300, 1234, nil, 1)},
			[][2]float64{{0.52, 0.58}})[0]
		if st.Error != "" || deref(st.PeakVRAMUsedMB) != 1234 || deref(st.PeakPowerW) != 300 {
			t.Errorf("60 ms window: error %q, peak VRAM %v, peak power %v; want no error, 1234 MB, 300 W",
				st.Error, deref(st.PeakVRAMUsedMB), deref(st.PeakPowerW))
		}
		if got := deref(st.EnergyJ); math.Abs(got-18) > 0.01 {
			t.Errorf("60 ms window at 300 W: energy %v J, want 18", got)
		}
	})
	t.Run("a reading taken before Open but delivered after it is not counted", func(t *testing.T) {
		t.Parallel()
		clk := &fakeClock{t: at(1)}
		r := &Recorder{now: clk.Now}
		w := r.Open()
		r.observe([]Reading{{Index: 0, At: at(0.97), TempC: f(90)}}, nil) // taken before Open
		clk.Set(at(1.05))
		r.observe([]Reading{{Index: 0, At: at(1.05), TempC: f(50)}}, nil)
		clk.Set(at(1.1))
		st := w.Close()
		if st.Samples != 1 || deref(st.AvgTempC) != 70 {
			t.Errorf("samples %d, avg temp %v; want 1 sample, 70 (90 held from Open to 1.05 s, then 50)", st.Samples, deref(st.AvgTempC))
		}
	})
	t.Run("a single hw_slowdown reading shows as its share of the window", func(t *testing.T) {
		t.Parallel()
		g := func(s float64) Reading {
			rd := Reading{Index: 0, At: at(s), PowerW: f(200)}
			if math.Abs(s-1.5) < 1e-9 {
				rd.ThrottleReasons = []string{"hw_slowdown"}
			}
			return rd
		}
		st := play(&Recorder{}, &fakeClock{}, 0, 3, []func(float64) Reading{g}, [][2]float64{{1, 2}})[0]
		if got := st.ThrottleShare["hw_slowdown"]; math.Abs(got-0.1) > 1e-9 {
			t.Errorf("hw_slowdown share = %v, want 0.1 (one reading of ten)", got)
		}
	})
}

func TestLostGPUIsNotBilledAfterItWasLost(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{}
	r := &Recorder{Indexes: []int{0, 1}, now: clk.Now}
	var w *Window
	for k := 0; k <= 100; k++ { // 10 s, a round every 0.1 s
		s := float64(k) / 10
		clk.Set(at(s))
		if k == 0 {
			w = r.Open()
		}
		rds := []Reading{{Index: 0, At: at(s), PowerW: f(100), MemUsedMB: f(1000), EnergyMJ: f(1e6 + 100_000*s)}}
		var err error
		if k <= 1 { // GPU 1 answers for 0.1 s only
			rds = append(rds, Reading{Index: 1, At: at(s), PowerW: f(250), MemUsedMB: f(40000), EnergyMJ: f(5e6 + 250_000*s)})
		} else {
			err = errors.New("nvml: GPU 1 memory: GPU is lost")
		}
		r.observe(rds, err)
	}
	st := w.Close()
	if len(st.PerGPU) != 2 {
		t.Fatalf("per_gpu = %d GPUs, want 2", len(st.PerGPU))
	}
	lost := st.PerGPU[1]
	t.Logf("lost GPU: energy %.1f J, lost at %v s; partial_errors %d; avg VRAM %.0f MB", deref(lost.EnergyJ), deref(lost.LostAtS), st.PartialErrors, deref(st.AvgVRAMUsedMB))
	if got := deref(lost.EnergyJ); got > 50 {
		t.Errorf("lost GPU billed %.1f J, want about 50 (250 W until it was lost at 0.2 s), not 2500", got)
	}
	if lost.LostAtS == nil || *lost.LostAtS != 0.2 {
		t.Errorf("lost_at_s = %v, want 0.2", lost.LostAtS)
	}
	if st.PartialErrors != 99 || st.Error == "" {
		t.Errorf("partial_errors %d, error %q; want 99 and a message", st.PartialErrors, st.Error)
	}
	if got := deref(st.AvgVRAMUsedMB); got > 2000 {
		t.Errorf("avg VRAM %.0f MB: the lost GPU's 40 GB stayed in the sum", got)
	}
}

func TestProcessLookupIsAskedAgain(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{}
	known := false
	r := &Recorder{PIDs: []int{100}, now: clk.Now, parent: func(pid int) (int, error) {
		if pid == 300 && known {
			return 100, nil
		}
		return 0, errors.New("no such process")
	}}
	round := func(s float64) {
		clk.Set(at(s))
		r.observe([]Reading{{Index: 0, At: at(s), ProcessMemMB: map[int]float64{300: 700}}}, nil)
	}
	w := r.Open()
	round(0)
	clk.Set(at(0.5))
	if st := w.Close(); st.ProcessVRAMMB != nil || st.ProcessVRAMNote == "" || st.GPUSelection != SelectAll {
		t.Errorf("before the runner is known: process %v, note %q, selection %q; want none, a reason, all",
			st.ProcessVRAMMB, st.ProcessVRAMNote, st.GPUSelection)
	}
	known = true // the server's runner: its parentage now reads
	round(1)
	w = r.Open()
	round(ownRecheck.Seconds() + 1)
	clk.Set(at(ownRecheck.Seconds() + 2))
	if st := w.Close(); deref(st.ProcessVRAMMB) != 700 || st.GPUSelection != SelectServer {
		t.Errorf("after the recheck: process %v, selection %q; want 700, server", deref(st.ProcessVRAMMB), st.GPUSelection)
	}
}

func TestSelectionChangesMidWindow(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{}
	r := &Recorder{PIDs: []int{100}, now: clk.Now, parent: func(int) (int, error) { return 0, errors.New("gone") }}
	round := func(s float64, procs0, procs1 map[int]float64) {
		clk.Set(at(s))
		r.observe([]Reading{
			{Index: 0, At: at(s), MemUsedMB: f(1000), ProcessMemMB: procs0},
			{Index: 1, At: at(s), MemUsedMB: f(5000), ProcessMemMB: procs1},
		}, nil)
	}
	w := r.Open()
	round(0, map[int]float64{}, map[int]float64{})                // the server holds no GPU yet: all
	round(1, map[int]float64{100: 900}, map[int]float64{})        // then GPU 0 (the other GPU's figures go)
	round(2, map[int]float64{100: 900}, map[int]float64{100: 10}) // then GPU 1 too: the sum is not restarted
	clk.Set(at(3))
	st := w.Close()
	if st.GPUSelection != SelectServer || len(st.PerGPU) != 2 {
		t.Fatalf("selection %q, %d GPUs; want server, 2", st.GPUSelection, len(st.PerGPU))
	}
	// From 1 s: 1000 MB for 1 s, then 6000 MB for 1 s.
	if got := deref(st.AvgVRAMUsedMB); got != 3500 || deref(st.PeakVRAMUsedMB) != 6000 {
		t.Errorf("avg VRAM %v, peak %v; want 3500 (1000 then 6000 MB from the narrowing on), 6000", got, deref(st.PeakVRAMUsedMB))
	}
}
