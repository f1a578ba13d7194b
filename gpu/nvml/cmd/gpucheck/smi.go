//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

// smiQuery is what gpucheck asks nvidia-smi for, one line per GPU per poll.
// nvidia-smi prints local time: run it with TZ=UTC (gpu-check.sh does).
var smiQuery = []string{"--query-gpu=timestamp,index,memory.used,power.draw,utilization.gpu",
	"--format=csv,noheader,nounits"}

// smiLayout is nvidia-smi's timestamp format.
const smiLayout = "2006/01/02 15:04:05.000"

// smiRow is one GPU's line of one nvidia-smi poll; a figure nvidia-smi could not
// read ("[N/A]") is NaN.
type smiRow struct {
	at                   time.Time
	index                int
	memMiB, powerW, util float64
}

// parseSMI reads nvidia-smi's query output (smiQuery), skipping lines it cannot
// read; at most maxRows rows are kept.
func parseSMI(r io.Reader) []smiRow {
	const maxRows = 1 << 20
	var rows []smiRow
	sc := bufio.NewScanner(r)
	for sc.Scan() && len(rows) < maxRows {
		f := strings.Split(sc.Text(), ",")
		if len(f) != 5 {
			continue
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		at, err := time.ParseInLocation(smiLayout, f[0], time.UTC)
		if err != nil {
			continue
		}
		idx, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		rows = append(rows, smiRow{at: at, index: idx, memMiB: smiNum(f[2]), powerW: smiNum(f[3]), util: smiNum(f[4])})
	}
	return rows
}

func smiNum(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// smiStats are nvidia-smi's figures for one GPU over a window.
type smiStats struct {
	n                  int
	peakMem, peakPower float64
	avgPower, energyJ  float64
	peakUtil           float64
	hasMem, hasPower   bool
}

// summariseSMI summarises GPU index's rows in [from, to]: peaks, the mean
// power, and the power integrated step-wise over the window (each reading holds
// until the next; the last one before from holds from from).
func summariseSMI(rows []smiRow, index int, from, to time.Time) smiStats {
	var st smiStats
	var prev *smiRow
	var lastAt time.Time
	var lastP float64
	powerSum, powerN := 0.0, 0
	hold := func(until time.Time) {
		if !lastAt.IsZero() && !math.IsNaN(lastP) {
			st.energyJ += lastP * until.Sub(lastAt).Seconds()
		}
	}
	for i := range rows {
		r := rows[i]
		if r.index != index {
			continue
		}
		if r.at.Before(from) {
			prev = &rows[i]
			continue
		}
		if r.at.After(to) {
			break
		}
		if st.n == 0 && prev != nil {
			lastAt, lastP = from, prev.powerW
		}
		hold(r.at)
		lastAt, lastP = r.at, r.powerW
		st.n++
		if !math.IsNaN(r.memMiB) {
			st.peakMem, st.hasMem = max(st.peakMem, r.memMiB), true
		}
		if !math.IsNaN(r.powerW) {
			st.peakPower, st.hasPower = max(st.peakPower, r.powerW), true
			powerSum += r.powerW
			powerN++
		}
		if !math.IsNaN(r.util) {
			st.peakUtil = max(st.peakUtil, r.util)
		}
	}
	if st.n == 0 && prev != nil {
		lastAt, lastP = from, prev.powerW
		st.hasPower = !math.IsNaN(prev.powerW)
		st.avgPower, st.peakPower = prev.powerW, prev.powerW
		st.peakMem, st.hasMem = prev.memMiB, !math.IsNaN(prev.memMiB)
	}
	hold(to)
	if powerN > 0 {
		st.avgPower = powerSum / float64(powerN)
	}
	return st
}

// compareRecord prints, per test of a record and per GPU of its window, Typhon's
// VRAM, power, energy and energy per token beside nvidia-smi's over the same
// window (the window_s before the test finished).
func compareRecord(out io.Writer, recordPath, smiPath string) error {
	raw, err := os.ReadFile(recordPath)
	if err != nil {
		return err
	}
	var res schema.Result
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("record %s: %w", recordPath, err)
	}
	f, err := os.Open(smiPath)
	if err != nil {
		return err
	}
	defer f.Close()
	rows := parseSMI(f)
	if len(rows) == 0 {
		return fmt.Errorf("%s holds no nvidia-smi reading", smiPath)
	}
	slices.SortStableFunc(rows, func(a, b smiRow) int { return a.at.Compare(b.at) })
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "test\tGPU\twindow s\tsmi rows\tpeak VRAM MiB typhon/smi\tavg power W typhon/smi\tpeak power W typhon/smi\tenergy J typhon/smi\tJ/token typhon/smi")
	for _, b := range res.Benchmarks {
		compareTest(tw, b, rows, firstOf(res.GPUUnavailable, "no GPU figure"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if res.GPUUnavailable != "" {
		return fmt.Errorf("%w: the record says: %s", gpu.ErrGPUUnavailable, res.GPUUnavailable)
	}
	return nil
}

// compareTest prints one test's rows of compareRecord.
func compareTest(tw io.Writer, b schema.Benchmark, rows []smiRow, why string) {
	st := b.GPUStats
	if len(st.PerGPU) == 0 || b.FinishedAt.IsZero() {
		fmt.Fprintf(tw, "%s\t-\t-\t-\tno GPU figure (%s)\n", b.TestID, firstOf(b.SkipReason, st.Error, why))
		return
	}
	to := b.FinishedAt
	from := to.Add(-time.Duration(st.WindowS * float64(time.Second)))
	tokens := 0
	for _, r := range b.Runs {
		tokens += r.OutputTokens
	}
	for _, g := range st.PerGPU {
		s := summariseSMI(rows, g.Index, from, to)
		perTok := "n/a"
		if tokens > 0 && g.EnergyJ != nil {
			perTok = fmt.Sprintf("%.4f / %.4f", *g.EnergyJ/float64(tokens), s.energyJ/float64(tokens))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%d\t%s / %s\t%s / %s\t%s / %s\t%s / %.1f\t%s\n", b.TestID, g.Index, st.WindowS, s.n,
			num(g.PeakVRAMUsedMB, "%.0f"), smiVal(s.peakMem, s.hasMem, "%.0f"),
			num(g.AvgPowerW, "%.1f"), smiVal(s.avgPower, s.hasPower, "%.1f"),
			num(g.PeakPowerW, "%.1f"), smiVal(s.peakPower, s.hasPower, "%.1f"),
			num(g.EnergyJ, "%.1f"), s.energyJ, perTok)
	}
}

func smiVal(v float64, ok bool, format string) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// startSMI runs nvidia-smi (path; "" none) polling every 100 ms until ctx ends;
// the returned func stops it and returns its rows (nil when it did not run).
func startSMI(ctx context.Context, path string) func() []smiRow {
	if path == "" {
		return func() []smiRow { return nil }
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path, append(slices.Clone(smiQuery), "-lms", "100")...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdout = &limitedBuffer{buf: &out, left: 64 << 20}
	if err := cmd.Start(); err != nil {
		return func() []smiRow { return nil }
	}
	return func() []smiRow {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		rows := parseSMI(&out)
		if rows == nil {
			rows = []smiRow{}
		}
		return rows
	}
}

// limitedBuffer keeps the first left bytes written to it and drops the rest.
type limitedBuffer struct {
	buf  *bytes.Buffer
	left int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	n := min(len(p), b.left)
	b.buf.Write(p[:n])
	b.left -= n
	return len(p), nil
}

// printSMI prints, per GPU of the window, nvidia-smi's figures beside ours.
func printSMI(out io.Writer, st schema.GPUStats, rows []smiRow, from, to time.Time) {
	if len(rows) == 0 {
		fmt.Fprintln(out, "nvidia-smi gave no reading during the window")
		return
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GPU\tsmi rows\tpeak memory MiB gpucheck/smi\tpeak power W gpucheck/smi\tavg power W gpucheck/smi\tenergy J gpucheck/smi\tpeak util % gpucheck/smi")
	for _, g := range st.PerGPU {
		s := summariseSMI(rows, g.Index, from, to)
		fmt.Fprintf(tw, "%d\t%d\t%s / %s\t%s / %s\t%s / %s\t%s / %.1f\t%s / %.0f\n", g.Index, s.n,
			num(g.PeakVRAMUsedMB, "%.0f"), smiVal(s.peakMem, s.hasMem, "%.0f"),
			num(g.PeakPowerW, "%.1f"), smiVal(s.peakPower, s.hasPower, "%.1f"),
			num(g.AvgPowerW, "%.1f"), smiVal(s.avgPower, s.hasPower, "%.1f"),
			num(g.EnergyJ, "%.1f"), s.energyJ, num(g.PeakUtilPct, "%.0f"), s.peakUtil)
	}
	tw.Flush()
}
