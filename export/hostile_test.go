package export

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// hostileValues are identifying strings of kinds the format forbids, each
// with the part that must not reach an export.
var hostileValues = []struct{ value, secret string }{
	{"gpu-box.corp.lan", "gpu-box"},
	{"build-host.example.com", "example.com"},
	{"fe80::1ff:fe23:4567:890a", "fe80"},
	{"served from fe80::1ff:fe23:4567:890a%eth0", "fe80"},
	{"addr [2001:db8::7]:8080", "2001:db8"},
	{"loop ::1 here", "::1"},
	{"mapped ::ffff:c0a8:107 here", "c0a8"},
	{"nic 00:1a:2b:3c:4d:5e", "3c:4d"},
	{"nic-00-1A-2B-3C-4D-5E", "3C-4D"},
	{"SN1320219012345", "1320219012345"},
	{"NVIDIA A100 serial 1320219012345", "1320219012345"},
	{"GPU-6f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f", "6f1c2d3e4a5b"},
	{"sk-proj-AbCdEf0123456789GhIjKl", "AbCdEf0123"},
	{"hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345", "AbCdEfGhIj"},
	{"token=AbCdEf0123456789GhIjKlMn", "AbCdEf0123"},
	{"alice@example.org", "alice"},
	{"0xc0.0xa8.0x01.0x07", "0xc0"},
	{"3232235783", "3232235783"},
}

// TestBuildDropsHostileValues puts each identifying string in every string
// field of a record that reaches an export: none reaches it, and the export
// still passes Check.
func TestBuildDropsHostileValues(t *testing.T) {
	fields := map[string]func(r *schema.Result, v string){
		"mode":          func(r *schema.Result, v string) { r.Mode = schema.Mode(v) },
		"status":        func(r *schema.Result, v string) { r.Status = schema.Status(v) },
		"typhon":        func(r *schema.Result, v string) { r.TyphonVersion = v },
		"server.kind":   func(r *schema.Result, v string) { r.Server.Kind = schema.Kind(v) },
		"server.ver":    func(r *schema.Result, v string) { r.Server.Version = v },
		"quant":         func(r *schema.Result, v string) { r.Server.Quantization = v },
		"model":         func(r *schema.Result, v string) { r.Model = v },
		"model-in-path": func(r *schema.Result, v string) { r.Model = "/models/" + v },
		"gpu":           func(r *schema.Result, v string) { r.ProfileSnapshot.GPUs[0].Name = v },
		"cpu":           func(r *schema.Result, v string) { r.ProfileSnapshot.CPU.Model = v },
		"os":            func(r *schema.Result, v string) { r.ProfileSnapshot.OS.Name = v },
		"test_id":       func(r *schema.Result, v string) { r.Benchmarks[0].TestID = v },
		"category":      func(r *schema.Result, v string) { r.Benchmarks[0].Category = v },
		"error_kind":    func(r *schema.Result, v string) { r.Benchmarks[0].Runs[1].ErrorKind = v },
	}
	salt := []byte("0123456789abcdef0123456789abcdef")
	for name, set := range fields {
		for _, h := range hostileValues {
			res := record()
			set(res, h.value)
			f, err := Build([]*schema.Result{res}, salt, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Write(&buf, f); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(strings.ToLower(buf.String()), strings.ToLower(h.secret)) {
				t.Errorf("%s = %q: the export holds %q", name, h.value, h.secret)
			}
			if _, err := Check(bytes.NewReader(buf.Bytes())); err != nil {
				t.Errorf("%s = %q: Check of Build's output: %v", name, h.value, err)
			}
		}
	}
}

// TestCheckRejectsHostileValues: a file that holds one of those strings (or a
// terminal escape) where the format allows a text or an identifier is refused.
func TestCheckRejectsHostileValues(t *testing.T) {
	salt := []byte("0123456789abcdef0123456789abcdef")
	for _, h := range append(hostileValues, struct{ value, secret string }{"NVIDIA \x1b]0;title\x07 A100", ""}) {
		for _, field := range []string{"server.version", "model.name", "cpu_model"} {
			f, err := Build([]*schema.Result{record()}, salt, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			switch field {
			case "server.version":
				f.Runs[0].Server.Version = h.value
			case "model.name":
				f.Runs[0].Model.Name = h.value
			case "cpu_model":
				f.Runs[0].Hardware.CPUModel = h.value
			}
			var buf bytes.Buffer
			if err := Write(&buf, f); err != nil {
				t.Fatal(err)
			}
			if _, err := Check(&buf); err == nil {
				t.Errorf("Check accepted %s = %q", field, h.value)
			}
		}
	}
}

// TestBuildDropsLocalNames: this machine's host name, user name and
// interface addresses are kept out of an export in any field and any case,
// even as a word of a longer text.
func TestBuildDropsLocalNames(t *testing.T) {
	names := localNames()
	if len(names) == 0 {
		t.Fatal("no local name found (host name, user, interfaces)")
	}
	salt := []byte("0123456789abcdef0123456789abcdef")
	for _, n := range names {
		res := record()
		res.ProfileSnapshot.CPU.Model = "Xeon " + strings.ToUpper(n) + " edition"
		res.ProfileSnapshot.GPUs[0].Name = "NVIDIA " + n
		res.Server.Version = n
		res.Model = n + " model"
		f, err := Build([]*schema.Result{res}, salt, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		r := f.Runs[0]
		for _, v := range []string{r.Hardware.CPUModel, r.Hardware.GPUs[0].Model, r.Server.Version, r.Model.Name} {
			if holdsLocal(v, []string{n}) {
				t.Errorf("local name %q kept in %q", n, v)
			}
		}
	}
	t.Logf("%d local names: %q", len(names), names)
}

// TestBuildOutputPassesCheck: whatever a record holds (no date, a date
// outside years 1-9999, negative or infinite figures, counts and hardware, as
// an uploaded record may), Build writes a file that Check accepts; a run
// without a usable date is left out.
func TestBuildOutputPassesCheck(t *testing.T) {
	salt := []byte("0123456789abcdef0123456789abcdef")
	for name, c := range map[string]struct {
		mod  func(r *schema.Result)
		runs int
	}{
		"zero run_at":     {func(r *schema.Result) { r.RunAt = time.Time{} }, 0},
		"year -5":         {func(r *schema.Result) { r.RunAt = time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC) }, 0},
		"year 12000":      {func(r *schema.Result) { r.RunAt = time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC) }, 0},
		"negative tps":    {func(r *schema.Result) { r.Benchmarks[0].AvgTPS, r.Benchmarks[0].AvgTTFTS = -5, -1 }, 1},
		"negative counts": {func(r *schema.Result) { r.Benchmarks[0].NRuns, r.Benchmarks[0].CtxSize = -1, -4 }, 1},
		"negative hardware": {func(r *schema.Result) {
			r.ProfileSnapshot.CPU.LogicalCores, r.ProfileSnapshot.GPUs[0].MemoryTotalMB = -2, -1
			r.ProfileSnapshot.GPUs[0].DriverVersion = "-3.1"
		}, 1},
		"infinite": {func(r *schema.Result) { r.Benchmarks[0].AvgTPS, r.Benchmarks[0].BestTPS = 1e300, -1e300 }, 1},
	} {
		res := record()
		c.mod(res)
		f, err := Build([]*schema.Result{res, nil}, salt, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Write(&buf, f); err != nil {
			t.Fatal(err)
		}
		if _, err := Check(&buf); err != nil || len(f.Runs) != c.runs {
			t.Errorf("%s: %d runs, Check: %v; want %d runs and a valid file", name, len(f.Runs), err, c.runs)
		}
	}
}

// TestBuildKeepsPlanTestIDs: every kind of test id the plans make is kept
// (a rate level's id holds a decimal point).
func TestBuildKeepsPlanTestIDs(t *testing.T) {
	salt := []byte("0123456789abcdef0123456789abcdef")
	for _, id := range []string{"baseline_short", "ctx_sweep_4096", "long_gen", "memory_wall", "concurrency_4",
		"zeus_131072", "load_sweep", "load_users_8", "load_rate_2.5", "load_rate_0.25"} {
		res := record()
		res.Benchmarks[0].TestID = id
		f, err := Build([]*schema.Result{res}, salt, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Runs[0].Benchmarks[0].TestID; got != id {
			t.Errorf("test id %q exported as %q", id, got)
		}
	}
}
