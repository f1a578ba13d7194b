package gpu

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// Cases beyond the text: readings no card can give, clocks that go
// backwards, energy counters that jump, windows of no length. Every figure
// left out must be said in the record, never kept as a wrong number.

func TestImplausibleReadingsAreLeftOutWithAReason(t *testing.T) {
	t.Parallel()
	r := &Recorder{totals: map[int]float64{0: 24576}}
	good := func(s float64) Reading {
		return Reading{Index: 0, MemUsedMB: new(8000.0), PowerW: new(300.0), UtilPct: new(90.0), TempC: new(60.0)}
	}
	bad := good(0)
	bad.PowerW = new(1e6)        // 1e9 mW
	bad.MemUsedMB = new(40000.0) // above the card's 24576 MB
	bad.UtilPct = new(150.0)
	bad.TempC = new(-300.0)
	bad.PowerInstantW = new(-5.0)
	st := window(r, 0, 1, []round{
		{at: 0.1, readings: []Reading{good(0.1)}},
		{at: 0.5, readings: []Reading{bad}},
		{at: 0.9, readings: []Reading{good(0.9)}},
	})
	if deref(st.PeakPowerW) != 300 || deref(st.PeakVRAMUsedMB) != 8000 || deref(st.PeakUtilPct) != 90 || deref(st.AvgTempC) != 60 {
		t.Errorf("peak power %v, peak VRAM %v, peak util %v, avg temp %v; want 300, 8000, 90, 60 (the impossible values left out)",
			deref(st.PeakPowerW), deref(st.PeakVRAMUsedMB), deref(st.PeakUtilPct), deref(st.AvgTempC))
	}
	for _, want := range []string{"implausible", "power", "memory", "utilization"} {
		if !strings.Contains(st.Error, want) {
			t.Errorf("error %q does not mention %q", st.Error, want)
		}
	}
}

func TestNegativeProcessMemoryIsLeftOut(t *testing.T) {
	t.Parallel()
	r := &Recorder{PIDs: []int{7}, totals: map[int]float64{0: 24576}}
	rd := func(mb float64) Reading {
		return Reading{Index: 0, MemUsedMB: new(9000.0), ProcessMemMB: map[int]float64{7: mb}}
	}
	st := window(r, 0, 1, []round{
		{at: 0.1, readings: []Reading{rd(-4000)}},
		{at: 0.5, readings: []Reading{rd(1e9)}},
		{at: 0.9, readings: []Reading{rd(6000)}},
	})
	if deref(st.ProcessVRAMMB) != 6000 {
		t.Errorf("process VRAM %v, want 6000 (negative and above-total figures left out)", deref(st.ProcessVRAMMB))
	}
	if !strings.Contains(st.Error, "implausible") {
		t.Errorf("error %q does not say implausible values were left out", st.Error)
	}
}

func TestReadingClockGoingBackwardsIsNotDoubleCounted(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: at(0)}
	r := &Recorder{now: clk.Now}
	w := r.Open()
	for _, x := range []struct{ s, at, watts float64 }{
		{1.0, 1.0, 100}, {1.1, 0.5, 1000}, {1.5, 1.5, 100}, {1.6, 1.5, 1000},
	} {
		clk.Set(at(x.s))
		r.observe([]Reading{{Index: 0, At: at(x.at), PowerW: new(x.watts)}}, nil)
	}
	clk.Set(at(2))
	st := w.Close()
	if e := deref(st.EnergyJ); math.Abs(e-200) > 0.01 {
		t.Errorf("energy %v J, want 200 (100 W for 2 s; the readings stamped at or before an earlier one left out)", e)
	}
	if deref(st.PeakPowerW) != 100 || st.Samples != 2 {
		t.Errorf("peak power %v, samples %d; want 100 and 2", deref(st.PeakPowerW), st.Samples)
	}
	if !strings.Contains(st.Error, "backwards") {
		t.Errorf("error %q does not say a reading's clock went backwards", st.Error)
	}
}

func TestEnergyCounterJumpFallsBackToPower(t *testing.T) {
	t.Parallel()
	var mj float64
	rounds := []round{}
	for k := 1; k <= 10; k++ {
		s := float64(k) / 10
		mj = 300 * 1000 * s
		if k >= 5 {
			mj += 1e12 // the counter leaps by a terajoule
		}
		rounds = append(rounds, round{at: s, readings: []Reading{{Index: 0, PowerW: new(300.0), EnergyMJ: new(mj)}}})
	}
	st := window(&Recorder{}, 0, 1, rounds)
	if e := deref(st.EnergyJ); math.Abs(e-300) > 3 {
		t.Errorf("energy %v J, want 300 (300 W for 1 s, read from power when the counter jumps)", e)
	}
	if a := deref(st.AvgPowerW); math.Abs(a-300) > 3 {
		t.Errorf("avg power %v W, want 300", a)
	}
	if !strings.Contains(st.Error, "energy counter") {
		t.Errorf("error %q does not say the energy counter was not used", st.Error)
	}
}

func TestWindowsOfNoOrNegativeLength(t *testing.T) {
	t.Parallel()
	rd := []Reading{{Index: 0, PowerW: new(300.0), MemUsedMB: new(100.0), EnergyMJ: new(1000.0),
		ThrottleReasons: []string{"sw_power_cap"}}}
	for _, c := range []struct {
		name          string
		open, closeAt float64
	}{{"zero", 1, 1}, {"negative", 1, 0.5}} {
		r := &Recorder{}
		clk := &fakeClock{t: at(0.9)}
		r.now = clk.Now
		rd[0].At = at(0.9)
		r.observe(rd, nil)
		clk.Set(at(c.open))
		w := r.Open()
		clk.Set(at(c.closeAt))
		st := w.Close()
		if _, err := json.Marshal(st); err != nil {
			t.Errorf("%s-length window: the record cannot be written: %v", c.name, err)
		}
		if st.WindowS != 0 || (st.EnergyJ != nil && *st.EnergyJ != 0) {
			t.Errorf("%s-length window: window_s %v, energy %v; want 0 and no energy", c.name, st.WindowS, deref(st.EnergyJ))
		}
		for k, v := range st.ThrottleShare {
			if v < 0 || v > 1 || math.IsNaN(v) {
				t.Errorf("%s-length window: throttle share %s = %v", c.name, k, v)
			}
		}
	}
}

func TestServerProcessWithoutMemoryFigure(t *testing.T) {
	t.Parallel()
	r := &Recorder{PIDs: []int{7}}
	rd := []Reading{
		{Index: 0, MemUsedMB: new(30000.0), PowerW: new(60.0), ProcessMemMB: map[int]float64{99: 29000}},
		{Index: 1, MemUsedMB: new(20000.0), PowerW: new(300.0), ProcessMemMB: map[int]float64{7: math.NaN()}},
	}
	st := window(r, 0, 1, []round{{at: 0.1, readings: rd}, {at: 0.6, readings: rd}})
	if _, err := json.Marshal(st); err != nil {
		t.Fatalf("the record cannot be written: %v", err)
	}
	if st.GPUSelection != SelectServer || len(st.PerGPU) != 1 || st.PerGPU[0].Index != 1 {
		t.Errorf("selection %q, per GPU %+v; want the server's GPU 1 only", st.GPUSelection, st.PerGPU)
	}
	if st.ProcessVRAMMB != nil || !strings.Contains(st.ProcessVRAMNote, "not available") {
		t.Errorf("process VRAM %v, note %q; want none and a note that NVML gives no figure", deref(st.ProcessVRAMMB), st.ProcessVRAMNote)
	}
	if strings.Contains(st.Error, "implausible") {
		t.Errorf("error %q: a process without a figure is not implausible", st.Error)
	}
}

// The only GPU is lost: Sample fails outright (no reading at all) from then on.
// Its figures stop at the first failed round, as when one GPU of several is lost.
func TestOnlyGPULostIsNotBilledAfterItWasLost(t *testing.T) {
	t.Parallel()
	for _, withCounter := range []bool{false, true} {
		var rounds []round
		for k := 1; k <= 100; k++ {
			s := float64(k) / 10
			if s > 0.35 {
				rounds = append(rounds, round{at: s, err: errors.New("nvml: GPU 0 memory: ERROR_GPU_IS_LOST")})
				continue
			}
			rd := Reading{Index: 0, PowerW: new(300.0), MemUsedMB: new(40000.0)}
			if withCounter {
				rd.EnergyMJ = new(300_000 * s)
			}
			rounds = append(rounds, round{at: s, readings: []Reading{rd}})
		}
		st := window(&Recorder{}, 0, 10, rounds)
		if e := deref(st.EnergyJ); e > 130 {
			t.Errorf("counter %v: energy %v J, want about 120 (300 W until the GPU was lost at 0.4 s), not billed to 10 s", withCounter, e)
		}
		if len(st.PerGPU) != 1 || st.PerGPU[0].LostAtS == nil || math.Abs(*st.PerGPU[0].LostAtS-0.4) > 1e-9 {
			t.Errorf("counter %v: per GPU %+v, want lost_at_s 0.4", withCounter, st.PerGPU)
		}
		if st.SampleErrors != 97 || deref(st.PeakVRAMUsedMB) != 40000 {
			t.Errorf("counter %v: sample errors %d, peak VRAM %v; want 97 and 40000", withCounter, st.SampleErrors, deref(st.PeakVRAMUsedMB))
		}
	}
}

// A window opened while the GPU gives no reading is not seeded with the
// reading it gave before it was lost.
func TestWindowOpenedAfterTheGPUWasLost(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: at(0)}
	r := &Recorder{now: clk.Now}
	r.observe([]Reading{{Index: 0, At: at(0), PowerW: new(300.0), MemUsedMB: new(40000.0)}}, nil)
	clk.Set(at(0.1))
	r.fail(errors.New("nvml: GPU 0 memory: ERROR_GPU_IS_LOST"))
	clk.Set(at(5))
	w := r.Open()
	clk.Set(at(6))
	r.fail(errors.New("nvml: GPU 0 memory: ERROR_GPU_IS_LOST"))
	clk.Set(at(7))
	st := w.Close()
	if st.EnergyJ != nil || st.PeakVRAMUsedMB != nil || !strings.Contains(st.Error, "GPU_IS_LOST") {
		t.Errorf("energy %v, peak VRAM %v, error %q; want no figure and the failure", deref(st.EnergyJ), deref(st.PeakVRAMUsedMB), st.Error)
	}
	if got := r.Latest(); len(got) != 0 {
		t.Errorf("Latest() = %+v after the GPU was lost, want none", got)
	}
}

// A GPU named by the caller (-gpu 7) that gives no reading is said, not left
// out of the figures in silence.
func TestGivenGPUThatDoesNotExist(t *testing.T) {
	t.Parallel()
	rd := []Reading{{Index: 0, PowerW: new(300.0)}, {Index: 1, PowerW: new(50.0)}}
	st := window(&Recorder{Indexes: []int{0, 7}}, 0, 1, []round{{at: 0.1, readings: rd}, {at: 0.6, readings: rd}})
	if len(st.PerGPU) != 1 || st.PerGPU[0].Index != 0 || deref(st.PeakPowerW) != 300 {
		t.Errorf("per GPU %+v, peak power %v; want GPU 0 only at 300 W", st.PerGPU, deref(st.PeakPowerW))
	}
	if !strings.Contains(st.Error, "GPU") || !strings.Contains(st.Error, "7") {
		t.Errorf("error %q does not say GPU 7 gave no reading", st.Error)
	}
}

// Hundreds of GPUs, the server on two of them (tensor parallel).
func TestHundredsOfGPUsServerOnTwo(t *testing.T) {
	t.Parallel()
	var rd []Reading
	for i := range 512 {
		r := Reading{Index: i, PowerW: new(50.0), MemUsedMB: new(70000.0), ProcessMemMB: map[int]float64{10000 + i: 69000}}
		if i == 100 || i == 400 {
			r = Reading{Index: i, PowerW: new(300.0), MemUsedMB: new(10000.0), ProcessMemMB: map[int]float64{42: 9000}}
		}
		rd = append(rd, r)
	}
	r := &Recorder{PIDs: []int{42}, parent: func(int) (int, error) { return 1, nil }}
	st := window(r, 0, 1, []round{{at: 0, readings: rd}, {at: 0.5, readings: rd}, {at: 1, readings: rd}})
	if st.GPUSelection != SelectServer || len(st.PerGPU) != 2 || st.PerGPU[0].Index != 100 || st.PerGPU[1].Index != 400 {
		t.Fatalf("selection %q, %d GPUs; want the server's 100 and 400", st.GPUSelection, len(st.PerGPU))
	}
	if deref(st.PeakVRAMUsedMB) != 20000 || deref(st.EnergyJ) != 600 || deref(st.ProcessVRAMMB) != 18000 {
		t.Errorf("peak VRAM %v, energy %v, process VRAM %v; want 20000, 600, 18000",
			deref(st.PeakVRAMUsedMB), deref(st.EnergyJ), deref(st.ProcessVRAMMB))
	}
}

// An energy counter that does not move while the card reports drawing power
// (a stale counter) is not read as 0 J.
func TestFrozenEnergyCounterFallsBackToPower(t *testing.T) {
	t.Parallel()
	var rounds []round
	for k := 0; k <= 10; k++ {
		rounds = append(rounds, round{at: float64(k) / 10, readings: []Reading{{Index: 0, PowerW: new(300.0), EnergyMJ: new(5e6)}}})
	}
	st := window(&Recorder{}, 0, 1, rounds)
	if e, p := deref(st.EnergyJ), deref(st.AvgPowerW); math.Abs(e-300) > 0.01 || math.Abs(p-300) > 0.01 {
		t.Errorf("energy %v J, avg power %v W; want 300 and 300 (from the power readings)", e, p)
	}
	if !strings.Contains(st.Error, "energy counter did not move") {
		t.Errorf("error %q does not say the counter did not move", st.Error)
	}
}

// A GPU that stops answering and comes back: no value is held over the gap,
// and the record still says it was lost.
func TestGPULostAndBack(t *testing.T) {
	t.Parallel()
	var rounds []round
	for k := 1; k <= 10; k++ {
		s := float64(k) / 10
		rd := []Reading{{Index: 1, PowerW: new(50.0)}}
		if s < 0.35 || s > 0.65 {
			rd = append(rd, Reading{Index: 0, PowerW: new(300.0), MemUsedMB: new(20000.0)})
		}
		rounds = append(rounds, round{at: s, readings: rd})
	}
	st := window(&Recorder{Indexes: []int{0, 1}}, 0, 1, rounds)
	g := st.PerGPU[0]
	if g.LostAtS == nil || math.Abs(*g.LostAtS-0.4) > 1e-9 {
		t.Errorf("GPU 0 lost_at_s %v, want 0.4 (it came back at 0.7, but it was lost)", g.LostAtS)
	}
	if e := deref(g.EnergyJ); math.Abs(e-300*0.7) > 0.01 {
		t.Errorf("GPU 0 energy %v J, want 210 (300 W for the 0.7 s it answered)", e)
	}
	if st.PartialErrors != 3 {
		t.Errorf("partial errors %d, want 3", st.PartialErrors)
	}
}
