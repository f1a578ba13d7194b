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

func f(v float64) *float64 { return &v }

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
				{at: 0, readings: []Reading{{Index: 0, UUID: "GPU-a", MemUsedMB: f(100), TempC: f(40), PowerW: f(100), UtilPct: f(0), MemUtilPct: f(10), SMClockMHz: f(1000)}}},
				{at: 1, readings: []Reading{{Index: 0, UUID: "GPU-a", MemUsedMB: f(300), TempC: f(60), PowerW: f(200), UtilPct: f(100), MemUtilPct: f(50), SMClockMHz: f(2000)}}},
			},
			want: schema.GPUStats{
				PeakVRAMUsedMB: f(300), AvgVRAMUsedMB: f(250),
				PeakTempC: f(60), AvgTempC: f(55),
				PeakPowerW: f(200), AvgPowerW: f(175),
				AvgUtilPct: f(75), PeakUtilPct: f(100),
				EnergyJ: f(700), // power integrated: 100 W x 1 s + 200 W x 3 s
				Samples: 2, WindowS: 4,
				PerGPU: []schema.GPUWindow{{
					Index: 0, UUID: "GPU-a", Samples: 2,
					PeakVRAMUsedMB: f(300), AvgVRAMUsedMB: f(250),
					PeakTempC: f(60), AvgTempC: f(55),
					PeakPowerW: f(200), AvgPowerW: f(175),
					AvgUtilPct: f(75), PeakUtilPct: f(100),
					AvgMemUtilPct: f(40), AvgSMClockMHz: f(1750),
					EnergyJ: f(700),
				}},
			},
		},
		{
			name:    "a field missing in some samples keeps the rest and holds the last value",
			closeAt: 4,
			rounds: []round{
				{at: 0, readings: []Reading{{Index: 0, MemUsedMB: f(100), TempC: f(50)}}},
				{at: 1, readings: []Reading{{Index: 0, MemUsedMB: f(200)}}}, // no temperature
				{at: 2, readings: []Reading{{Index: 0, MemUsedMB: f(300), TempC: f(70)}}},
				{at: 3, readings: []Reading{{Index: 0, TempC: f(90)}}}, // no memory
			},
			want: schema.GPUStats{
				// memory: 100x1 + 200x1 + 300x2 over 4 s
				PeakVRAMUsedMB: f(300), AvgVRAMUsedMB: f(225),
				// temperature: 50x2 + 70x1 + 90x1 over 4 s
				PeakTempC: f(90), AvgTempC: f(65),
				Samples: 4, WindowS: 4,
				PerGPU: []schema.GPUWindow{{
					Index: 0, Samples: 4,
					PeakVRAMUsedMB: f(300), AvgVRAMUsedMB: f(225),
					PeakTempC: f(90), AvgTempC: f(65),
				}},
			},
		},
		{
			name:    "several GPUs kept apart; VRAM summed per instant, peaks are the max over cards",
			closeAt: 2,
			rounds: []round{
				{at: 0, readings: []Reading{
					{Index: 0, UUID: "GPU-a", MemUsedMB: f(1000), TempC: f(60), PowerW: f(100), UtilPct: f(20)},
					{Index: 1, UUID: "GPU-b", MemUsedMB: f(3000), TempC: f(80), PowerW: f(300), UtilPct: f(60)},
				}},
				{at: 1, readings: []Reading{
					{Index: 0, UUID: "GPU-a", MemUsedMB: f(3000), TempC: f(60), PowerW: f(100), UtilPct: f(20)},
					{Index: 1, UUID: "GPU-b", MemUsedMB: f(1000), TempC: f(80), PowerW: f(300), UtilPct: f(60)},
				}},
			},
			want: schema.GPUStats{
				// The sum is 4000 at both instants: its peak is 4000, not 3000 + 3000.
				PeakVRAMUsedMB: f(4000), AvgVRAMUsedMB: f(4000),
				PeakTempC: f(80), AvgTempC: f(70),
				PeakPowerW: f(300), AvgPowerW: f(200),
				AvgUtilPct: f(40), PeakUtilPct: f(60),
				EnergyJ: f(800), // 100 W x 2 s + 300 W x 2 s
				Samples: 2, WindowS: 2,
				PerGPU: []schema.GPUWindow{
					{
						Index: 0, UUID: "GPU-a", Samples: 2,
						PeakVRAMUsedMB: f(3000), AvgVRAMUsedMB: f(2000),
						PeakTempC: f(60), AvgTempC: f(60),
						PeakPowerW: f(100), AvgPowerW: f(100),
						AvgUtilPct: f(20), PeakUtilPct: f(20),
						EnergyJ: f(200),
					},
					{
						Index: 1, UUID: "GPU-b", Samples: 2,
						PeakVRAMUsedMB: f(3000), AvgVRAMUsedMB: f(2000),
						PeakTempC: f(80), AvgTempC: f(80),
						PeakPowerW: f(300), AvgPowerW: f(300),
						AvgUtilPct: f(60), PeakUtilPct: f(60),
						EnergyJ: f(600),
					},
				},
			},
		},
		{
			name:    "energy from the counter when the card has one",
			closeAt: 3,
			rounds: []round{
				{at: 0, readings: []Reading{{Index: 0, PowerW: f(100), EnergyMJ: f(5_000_000)}}},
				{at: 1, readings: []Reading{{Index: 0, PowerW: f(100), EnergyMJ: f(5_150_000)}}},
				{at: 2, readings: []Reading{{Index: 0, PowerW: f(100), EnergyMJ: f(5_250_000)}}},
			},
			want: schema.GPUStats{
				// (5,250,000 - 5,000,000) mJ to the last reading, and 100 J more to the
				// close at the last interval's rate; power would say 300 J. Average
				// power is energy over time: 350 J / 3 s.
				PeakPowerW: f(100), AvgPowerW: f(116.67),
				EnergyJ: f(350),
				Samples: 3, WindowS: 3,
				PerGPU: []schema.GPUWindow{{
					Index: 0, Samples: 3,
					PeakPowerW: f(100), AvgPowerW: f(116.67),
					EnergyJ: f(350),
				}},
			},
		},
		{
			name:    "energy from power when the counter goes backwards",
			closeAt: 2,
			rounds: []round{
				{at: 0, readings: []Reading{{Index: 0, PowerW: f(50), EnergyMJ: f(9_000_000)}}},
				{at: 1, readings: []Reading{{Index: 0, PowerW: f(150), EnergyMJ: f(1_000)}}}, // driver reloaded
			},
			want: schema.GPUStats{
				PeakPowerW: f(150), AvgPowerW: f(100),
				EnergyJ: f(200),
				Samples: 2, WindowS: 2,
				PerGPU: []schema.GPUWindow{{
					Index: 0, Samples: 2,
					PeakPowerW: f(150), AvgPowerW: f(100),
					EnergyJ: f(200),
				}},
			},
		},
		{
			name:    "Indexes keeps only the server's GPUs",
			rec:     &Recorder{Indexes: []int{1}},
			closeAt: 1,
			rounds: []round{
				{at: 0, readings: []Reading{
					{Index: 0, MemUsedMB: f(7000), TempC: f(99)},
					{Index: 1, MemUsedMB: f(500), TempC: f(40)},
				}},
			},
			want: schema.GPUStats{
				PeakVRAMUsedMB: f(500), AvgVRAMUsedMB: f(500),
				PeakTempC: f(40), AvgTempC: f(40),
				Samples: 1, WindowS: 1,
				PerGPU: []schema.GPUWindow{{
					Index: 1, Samples: 1,
					PeakVRAMUsedMB: f(500), AvgVRAMUsedMB: f(500),
					PeakTempC: f(40), AvgTempC: f(40),
				}},
			},
		},
		{
			name:    "readings outside the window are not counted",
			openAt:  1,
			closeAt: 2,
			rounds: []round{
				{at: 1, readings: []Reading{{Index: 0, TempC: f(50)}}},
			},
			want: schema.GPUStats{
				PeakTempC: f(50), AvgTempC: f(50),
				Samples: 1, WindowS: 1,
				PerGPU: []schema.GPUWindow{{Index: 0, Samples: 1, PeakTempC: f(50), AvgTempC: f(50)}},
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
				ProcessVRAMMB: f(800),
				Samples:       2, WindowS: 2,
				PerGPU: []schema.GPUWindow{
					{Index: 0, Samples: 2, ProcessVRAMMB: f(600)},
					{Index: 1, Samples: 2, ProcessVRAMMB: f(300)},
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
			rounds:  []round{{at: 0, readings: []Reading{{Index: 0, TempC: f(50)}}}},
			want:    schema.GPUStats{WindowS: 1, Error: "no reading of GPUs [3] in the window"},
		},
		{
			name:    "failed rounds are reported beside the figures",
			closeAt: 3,
			rounds: []round{
				{at: 0, err: errors.New("GPU is lost")},
				{at: 1, readings: []Reading{{Index: 0, TempC: f(50)}}},
				{at: 2, err: errors.New("unknown error")},
			},
			want: schema.GPUStats{
				PeakTempC: f(50), AvgTempC: f(50),
				Samples: 1, WindowS: 3, SampleErrors: 2,
				Error:  "2 of 3 sampling rounds failed, last: unknown error",
				PerGPU: []schema.GPUWindow{{Index: 0, Samples: 1, PeakTempC: f(50), AvgTempC: f(50)}},
			},
		},
		{
			name:    "one reading at the closing instant: plain value",
			closeAt: 0,
			rounds:  []round{{at: 0, readings: []Reading{{Index: 0, PowerW: f(120)}}}},
			want: schema.GPUStats{
				PeakPowerW: f(120), AvgPowerW: f(120),
				Samples: 1,
				PerGPU:  []schema.GPUWindow{{Index: 0, Samples: 1, PeakPowerW: f(120), AvgPowerW: f(120)}},
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
		r.observe([]Reading{{Index: 0, At: at(s), TempC: f(temp)}}, nil)
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
				PeakTempC: f(80), AvgTempC: f(80), Samples: 1, WindowS: 1,
				PerGPU: []schema.GPUWindow{{Index: 0, Samples: 1, PeakTempC: f(80), AvgTempC: f(80)}},
			},
		},
		{
			name: "outer window sees all three",
			got:  outerStats,
			want: schema.GPUStats{
				PeakTempC: f(80), AvgTempC: f(50), Samples: 3, WindowS: 4, // 40x1 + 80x1 + 40x2 over 4 s
				PerGPU: []schema.GPUWindow{{Index: 0, Samples: 3, PeakTempC: f(80), AvgTempC: f(50)}},
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
