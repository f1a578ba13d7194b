package gpu

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/typhonbench/typhon/schema"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// at is t0 plus s seconds.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// fakeClock is a settable clock for Open and Close.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// round is one sampling round of a scripted window: readings taken at At
// seconds (their At is set from it), or a failure.
type round struct {
	at       float64
	readings []Reading
	err      error
}

// window opens a window at openAt seconds, plays rounds, and closes it at closeAt.
func window(r *Recorder, openAt, closeAt float64, rounds []round) schema.GPUStats {
	clk := &fakeClock{t: at(openAt)}
	r.now = clk.Now
	w := r.Open()
	for _, rd := range rounds {
		clk.Set(at(rd.at))
		if rd.err != nil {
			r.fail(rd.err)
			continue
		}
		readings := make([]Reading, len(rd.readings))
		for i, x := range rd.readings {
			x.At = at(rd.at)
			readings[i] = x
		}
		r.observe(readings, nil)
	}
	clk.Set(at(closeAt))
	return w.Close()
}

var approx = cmpopts.EquateApprox(0, 1e-9)

// older ignores the figures the first table does not script (selection,
// throttle shares); the tests of edge_test.go check them.
var older = cmpopts.IgnoreFields(schema.GPUStats{}, "GPUSelection", "GPUSelectionNote", "ProcessVRAMNote", "ThrottleShare")

func TestWindowStatistics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rec     *Recorder // Indexes, PIDs and parent of the recorder; nil = zero
		openAt  float64
		closeAt float64
		rounds  []round
		want    schema.GPUStats
	}{
		{
			name:    "one GPU, averages weighted by time",
			closeAt: 4,
			rounds: []round{
				// 100 MB for 1 s, then 300 MB for 3 s: 250 MB on average, not 200.
				{at: 0, readings: []Reading{{Index: 0, UUID: "GPU-a", MemUsedMB: new(100.0), TempC: new(40.0), PowerW: new(100.0), UtilPct: new(0.0), MemUtilPct: new(10.0), SMClockMHz: new(1000.0)}}},
				{at: 1, readings: []Reading{{Index: 0, UUID: "GPU-a", MemUsedMB: new(300.0), TempC: new(60.0), PowerW: new(200.0), UtilPct: new(100.0), MemUtilPct: new(50.0), SMClockMHz: new(2000.0)}}},
			},
			want: schema.GPUStats{
				PeakVRAMUsedMB: new(300.0), AvgVRAMUsedMB: new(250.0),
				PeakTempC: new(60.0), AvgTempC: new(55.0),
				PeakPowerW: new(200.0), AvgPowerW: new(175.0),
				AvgUtilPct: new(75.0), PeakUtilPct: new(100.0),
				EnergyJ: new(700.0), // power integrated: 100 W x 1 s + 200 W x 3 s
				Samples: 2, WindowS: 4,
				PerGPU: []schema.GPUWindow{{
					Index: 0, UUID: "GPU-a", Samples: 2,
					PeakVRAMUsedMB: new(300.0), AvgVRAMUsedMB: new(250.0),
					PeakTempC: new(60.0), AvgTempC: new(55.0),
					PeakPowerW: new(200.0), AvgPowerW: new(175.0),
					AvgUtilPct: new(75.0), PeakUtilPct: new(100.0),
					AvgMemUtilPct: new(40.0), AvgSMClockMHz: new(1750.0),
					EnergyJ: new(700.0),
				}},
			},
		},
		{
			name:    "a field missing in some samples keeps the rest and holds the last value",
			closeAt: 4,
			rounds: []round{
				{at: 0, readings: []Reading{{Index: 0, MemUsedMB: new(100.0), TempC: new(50.0)}}},
				{at: 1, readings: []Reading{{Index: 0, MemUsedMB: new(200.0)}}}, // no temperature
				{at: 2, readings: []Reading{{Index: 0, MemUsedMB: new(300.0), TempC: new(70.0)}}},
				{at: 3, readings: []Reading{{Index: 0, TempC: new(90.0)}}}, // no memory
			},
			want: schema.GPUStats{
				// memory: 100x1 + 200x1 + 300x2 over 4 s
				PeakVRAMUsedMB: new(300.0), AvgVRAMUsedMB: new(225.0),
				// temperature: 50x2 + 70x1 + 90x1 over 4 s
				PeakTempC: new(90.0), AvgTempC: new(65.0),
				Samples: 4, WindowS: 4,
				PerGPU: []schema.GPUWindow{{
					Index: 0, Samples: 4,
					PeakVRAMUsedMB: new(300.0), AvgVRAMUsedMB: new(225.0),
					PeakTempC: new(90.0), AvgTempC: new(65.0),
				}},
			},
		},
		{
			name:    "several GPUs kept apart; VRAM summed per instant, peaks are the max over cards",
			closeAt: 2,
			rounds: []round{
				{at: 0, readings: []Reading{
					{Index: 0, UUID: "GPU-a", MemUsedMB: new(1000.0), TempC: new(60.0), PowerW: new(100.0), UtilPct: new(20.0)},
					{Index: 1, UUID: "GPU-b", MemUsedMB: new(3000.0), TempC: new(80.0), PowerW: new(300.0), UtilPct: new(60.0)},
				}},
				{at: 1, readings: []Reading{
					{Index: 0, UUID: "GPU-a", MemUsedMB: new(3000.0), TempC: new(60.0), PowerW: new(100.0), UtilPct: new(20.0)},
					{Index: 1, UUID: "GPU-b", MemUsedMB: new(1000.0), TempC: new(80.0), PowerW: new(300.0), UtilPct: new(60.0)},
				}},
			},
			want: schema.GPUStats{
				// The sum is 4000 at both instants: its peak is 4000, not 3000 + 3000.
				PeakVRAMUsedMB: new(4000.0), AvgVRAMUsedMB: new(4000.0),
				PeakTempC: new(80.0), AvgTempC: new(70.0),
				PeakPowerW: new(300.0), AvgPowerW: new(200.0),
				AvgUtilPct: new(40.0), PeakUtilPct: new(60.0),
				EnergyJ: new(800.0), // 100 W x 2 s + 300 W x 2 s
				Samples: 2, WindowS: 2,
				PerGPU: []schema.GPUWindow{
					{
						Index: 0, UUID: "GPU-a", Samples: 2,
						PeakVRAMUsedMB: new(3000.0), AvgVRAMUsedMB: new(2000.0),
						PeakTempC: new(60.0), AvgTempC: new(60.0),
						PeakPowerW: new(100.0), AvgPowerW: new(100.0),
						AvgUtilPct: new(20.0), PeakUtilPct: new(20.0),
						EnergyJ: new(200.0),
					},
					{
						Index: 1, UUID: "GPU-b", Samples: 2,
						PeakVRAMUsedMB: new(3000.0), AvgVRAMUsedMB: new(2000.0),
						PeakTempC: new(80.0), AvgTempC: new(80.0),
						PeakPowerW: new(300.0), AvgPowerW: new(300.0),
						AvgUtilPct: new(60.0), PeakUtilPct: new(60.0),
						EnergyJ: new(600.0),
					},
				},
			},
		},
		{
			name:    "energy from the counter when the card has one",
			closeAt: 3,
			rounds: []round{
				{at: 0, readings: []Reading{{Index: 0, PowerW: new(100.0), EnergyMJ: new(float64(5_000_000))}}},
				{at: 1, readings: []Reading{{Index: 0, PowerW: new(100.0), EnergyMJ: new(float64(5_150_000))}}},
				{at: 2, readings: []Reading{{Index: 0, PowerW: new(100.0), EnergyMJ: new(float64(5_250_000))}}},
			},
			want: schema.GPUStats{
				// (5,250,000 - 5,000,000) mJ to the last reading, and 100 J more to the
				// close at the last interval's rate; power would say 300 J. Average
				// power is energy over time: 350 J / 3 s.
				PeakPowerW: new(100.0), AvgPowerW: new(116.67),
				EnergyJ: new(350.0),
				Samples: 3, WindowS: 3,
				PerGPU: []schema.GPUWindow{{
					Index: 0, Samples: 3,
					PeakPowerW: new(100.0), AvgPowerW: new(116.67),
					EnergyJ: new(350.0),
				}},
			},
		},
		{
			name:    "energy from power when the counter goes backwards",
			closeAt: 2,
			rounds: []round{
				{at: 0, readings: []Reading{{Index: 0, PowerW: new(50.0), EnergyMJ: new(float64(9_000_000))}}},
				{at: 1, readings: []Reading{{Index: 0, PowerW: new(150.0), EnergyMJ: new(float64(1_000))}}}, // driver reloaded
			},
			want: schema.GPUStats{
				PeakPowerW: new(150.0), AvgPowerW: new(100.0),
				EnergyJ: new(200.0),
				Samples: 2, WindowS: 2,
				Error: "1 figures left out: GPU 0 energy counter went backwards (9e+06 to 1000 mJ); its energy comes from the power readings",
				PerGPU: []schema.GPUWindow{{
					Index: 0, Samples: 2,
					PeakPowerW: new(150.0), AvgPowerW: new(100.0),
					EnergyJ: new(200.0),
				}},
			},
		},
		{
			name:    "Indexes keeps only the server's GPUs",
			rec:     &Recorder{Indexes: []int{1}},
			closeAt: 1,
			rounds: []round{
				{at: 0, readings: []Reading{
					{Index: 0, MemUsedMB: new(7000.0), TempC: new(99.0)},
					{Index: 1, MemUsedMB: new(500.0), TempC: new(40.0)},
				}},
			},
			want: schema.GPUStats{
				PeakVRAMUsedMB: new(500.0), AvgVRAMUsedMB: new(500.0),
				PeakTempC: new(40.0), AvgTempC: new(40.0),
				Samples: 1, WindowS: 1,
				PerGPU: []schema.GPUWindow{{
					Index: 1, Samples: 1,
					PeakVRAMUsedMB: new(500.0), AvgVRAMUsedMB: new(500.0),
					PeakTempC: new(40.0), AvgTempC: new(40.0),
				}},
			},
		},
		{
			name:    "readings outside the window are not counted",
			openAt:  1,
			closeAt: 2,
			rounds: []round{
				{at: 1, readings: []Reading{{Index: 0, TempC: new(50.0)}}},
			},
			want: schema.GPUStats{
				PeakTempC: new(50.0), AvgTempC: new(50.0),
				Samples: 1, WindowS: 1,
				PerGPU: []schema.GPUWindow{{Index: 0, Samples: 1, PeakTempC: new(50.0), AvgTempC: new(50.0)}},
			},
		},
		{
			name:    "throttle reasons: sorted union per GPU and overall",
			closeAt: 1,
			rounds: []round{
				{at: 0, readings: []Reading{
					{Index: 0, ThrottleReasons: []string{"sw_power_cap"}},
					{Index: 1, ThrottleReasons: []string{"hw_thermal_slowdown"}},
				}},
				{at: 0.5, readings: []Reading{
					{Index: 0, ThrottleReasons: []string{"sw_thermal_slowdown", "sw_power_cap"}},
					{Index: 1},
				}},
			},
			want: schema.GPUStats{
				ThrottleReasons: []string{"hw_thermal_slowdown", "sw_power_cap", "sw_thermal_slowdown"},
				Samples:         2, WindowS: 1,
				PerGPU: []schema.GPUWindow{
					{Index: 0, Samples: 2, ThrottleReasons: []string{"sw_power_cap", "sw_thermal_slowdown"}},
					{Index: 1, Samples: 2, ThrottleReasons: []string{"hw_thermal_slowdown"}},
				},
			},
		},
		{
			name: "server process memory: its PIDs and their children, peak of the sum over GPUs",
			rec: &Recorder{PIDs: []int{100}, parent: func(pid int) (int, error) {
				switch pid {
				case 101:
					return 100, nil // a runner started by the server
				case 200:
					return 1, nil
				}
				return 0, errors.New("no such process")
			}},
			closeAt: 2,
			rounds: []round{
				{at: 0, readings: []Reading{
					{Index: 0, ProcessMemMB: map[int]float64{101: 500, 200: 900}},
					{Index: 1, ProcessMemMB: map[int]float64{100: 300}},
				}},
				{at: 1, readings: []Reading{
					{Index: 0, ProcessMemMB: map[int]float64{101: 600, 200: 900}},
					{Index: 1, ProcessMemMB: map[int]float64{}}, // listed nothing
				}},
			},
			want: schema.GPUStats{
				ProcessVRAMMB: new(800.0),
				Samples:       2, WindowS: 2,
				PerGPU: []schema.GPUWindow{
					{Index: 0, Samples: 2, ProcessVRAMMB: new(600.0)},
					{Index: 1, Samples: 2, ProcessVRAMMB: new(300.0)},
				},
			},
		},
		{
			name:    "no reading in the window",
			closeAt: 0.05,
			want:    schema.GPUStats{WindowS: 0.05, Error: "no GPU reading in the window"},
		},
		{
			name:    "no reading of the wanted GPUs",
			rec:     &Recorder{Indexes: []int{3}},
			closeAt: 1,
			rounds:  []round{{at: 0, readings: []Reading{{Index: 0, TempC: new(50.0)}}}},
			want:    schema.GPUStats{WindowS: 1, Error: "no reading of GPUs [3] in the window"},
		},
		{
			name:    "failed rounds are reported beside the figures",
			closeAt: 3,
			rounds: []round{
				{at: 0, err: errors.New("GPU is lost")},
				{at: 1, readings: []Reading{{Index: 0, TempC: new(50.0)}}},
				{at: 2, err: errors.New("unknown error")},
			},
			want: schema.GPUStats{
				PeakTempC: new(50.0), AvgTempC: new(50.0),
				Samples: 1, WindowS: 3, SampleErrors: 2,
				Error:  "2 of 3 sampling rounds failed, last: unknown error",
				PerGPU: []schema.GPUWindow{{Index: 0, Samples: 1, PeakTempC: new(50.0), AvgTempC: new(50.0), LostAtS: new(2.0)}}, // no GPU answered at 2 s
			},
		},
		{
			name:    "one reading at the closing instant: plain value",
			closeAt: 0,
			rounds:  []round{{at: 0, readings: []Reading{{Index: 0, PowerW: new(120.0)}}}},
			want: schema.GPUStats{
				PeakPowerW: new(120.0), AvgPowerW: new(120.0),
				Samples: 1,
				PerGPU:  []schema.GPUWindow{{Index: 0, Samples: 1, PeakPowerW: new(120.0), AvgPowerW: new(120.0)}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.rec
			if r == nil {
				r = &Recorder{}
			}
			got := window(r, tt.openAt, tt.closeAt, tt.rounds)
			if diff := cmp.Diff(tt.want, got, approx, older, cmpopts.IgnoreFields(schema.GPUWindow{}, "ThrottleShare")); diff != "" {
				t.Errorf("window stats mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWindowsOverlapAndCloseTwice(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: at(0)}
	r := &Recorder{now: clk.Now}
	sample := func(s, temp float64) {
		clk.Set(at(s))
		r.observe([]Reading{{Index: 0, At: at(s), TempC: new(temp)}}, nil)
	}
	outer := r.Open()
	sample(0, 40)
	clk.Set(at(1))
	inner := r.Open()
	sample(1, 80)
	clk.Set(at(2))
	innerStats := inner.Close()
	sample(2, 40)
	clk.Set(at(4))
	outerStats := outer.Close()

	tests := []struct {
		name string
		got  schema.GPUStats
		want schema.GPUStats
	}{
		{
			name: "inner window sees only its reading",
			got:  innerStats,
			want: schema.GPUStats{
				PeakTempC: new(80.0), AvgTempC: new(80.0), Samples: 1, WindowS: 1,
				PerGPU: []schema.GPUWindow{{Index: 0, Samples: 1, PeakTempC: new(80.0), AvgTempC: new(80.0)}},
			},
		},
		{
			name: "outer window sees all three",
			got:  outerStats,
			want: schema.GPUStats{
				PeakTempC: new(80.0), AvgTempC: new(50.0), Samples: 3, WindowS: 4, // 40x1 + 80x1 + 40x2 over 4 s
				PerGPU: []schema.GPUWindow{{Index: 0, Samples: 3, PeakTempC: new(80.0), AvgTempC: new(50.0)}},
			},
		},
		{
			name: "closing again gives the same figures",
			got:  func() schema.GPUStats { sample(5, 99); clk.Set(at(9)); return inner.Close() }(),
			want: innerStats,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got, approx, older); diff != "" {
				t.Errorf("stats mismatch (-want +got):\n%s", diff)
			}
		})
	}
	r.mu.Lock()
	open := len(r.windows)
	r.mu.Unlock()
	if open != 0 {
		t.Errorf("open windows after closing both = %d, want 0", open)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		interval time.Duration
		failures int
		want     time.Duration
	}{
		{"first failure waits one interval", 100 * time.Millisecond, 1, 100 * time.Millisecond},
		{"doubles", 100 * time.Millisecond, 3, 400 * time.Millisecond},
		{"capped", 100 * time.Millisecond, 30, MaxBackoff},
		{"interval above the cap is kept", 10 * time.Second, 4, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := backoff(tt.interval, tt.failures); got != tt.want {
				t.Errorf("backoff(%v, %d) = %v, want %v", tt.interval, tt.failures, got, tt.want)
			}
		})
	}
}
