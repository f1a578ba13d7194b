//go:build linux

// Command gpucheck samples the GPUs through NVML while a load runs and prints one
// table: samples taken, peak memory, peak power, peak utilisation, energy, and
// the sampler's own CPU use; with -smi, nvidia-smi polls beside it and its
// figures are printed per GPU beside gpucheck's. scripts/gpu-check.sh builds it
// and runs it around a short PyTorch load.
//
// Usage:
//
//	gpucheck [-interval 100ms] [-duration 10s] [-json] [-smi nvidia-smi] [-- command [args...]]
//	gpucheck -record RECORD.json -smi-log SMI.csv
//
// With a command, gpucheck starts it, samples until it exits, and counts the
// memory its processes hold (on the GPUs they use); without one it samples for
// -duration. The second form prints, per test of a Typhon record and per GPU,
// VRAM, power, energy and J/token beside nvidia-smi's readings of the same
// window (a log of "nvidia-smi --query-gpu=timestamp,index,memory.used,
// power.draw,utilization.gpu --format=csv,noheader,nounits -lms 100" taken with
// TZ=UTC while the job ran). Exit status: 0 the table was printed and the
// sampler used under -cpu-budget (1%) of one core; 1 a failure; 2 no GPU (no
// driver, no device, a build without cgo, or a record without GPU figures).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/gpu/nvml"
	"github.com/typhonbench/typhon/schema"
)

// defaultCPUBudget is the most of one core, in percent, the sampler may use.
const defaultCPUBudget = 1.0

// sampler is what gpucheck needs of nvml.Sampler.
type sampler interface {
	gpu.Sampler
	Notes() []string
	Close() error
}

// openSampler opens NVML; tests replace it.
var openSampler = func(log *slog.Logger) (sampler, error) {
	s, err := nvml.New(nvml.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.Is(err, gpu.ErrGPUUnavailable):
		fmt.Fprintf(os.Stderr, "gpucheck: no GPU: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "gpucheck: %v\n", err)
		os.Exit(1)
	}
}

// options are gpucheck's flags.
type options struct {
	interval, duration time.Duration
	asJSON             bool
	budget             float64
	smi                string // nvidia-smi to run beside the sampling; "" none
	record, smiLog     string // compare mode: a Typhon record and an nvidia-smi log
	command            []string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("gpucheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.interval, "interval", gpu.DefaultInterval, "sampling interval")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to sample when no command is given")
	fs.BoolVar(&o.asJSON, "json", false, "print the window's gpu_stats as JSON after the table")
	fs.Float64Var(&o.budget, "cpu-budget", defaultCPUBudget, "fail when the sampler uses this percentage of one core or more")
	fs.StringVar(&o.smi, "smi", "", "run this nvidia-smi beside the sampling and print its per-GPU figures beside ours")
	fs.StringVar(&o.record, "record", "", "compare mode: a Typhon record (JSON) whose tests ran while -smi-log was written")
	fs.StringVar(&o.smiLog, "smi-log", "", "compare mode: nvidia-smi output, "+strings.Join(smiQuery, " ")+" -lms 100, taken with TZ=UTC")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if (o.record == "") != (o.smiLog == "") {
		return o, errors.New("-record and -smi-log go together")
	}
	if o.interval <= 0 || o.duration <= 0 {
		return o, fmt.Errorf("-interval and -duration must be positive, got %v and %v", o.interval, o.duration)
	}
	o.command = fs.Args()
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if o.record != "" {
		return compareRecord(stdout, o.record, o.smiLog)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := openSampler(log)
	if err != nil {
		return err
	}
	defer s.Close()
	devs, err := s.Devices(ctx)
	if err != nil {
		return err
	}
	rec := &gpu.Recorder{Sampler: s, Interval: o.interval, Logger: log}
	var cmd *exec.Cmd
	if len(o.command) > 0 {
		cmd = exec.CommandContext(ctx, o.command[0], o.command[1:]...)
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start load: %w", err)
		}
		rec.PIDs = []int{cmd.Process.Pid}
	}
	m, err := measure(ctx, rec, cmd, o)
	if err != nil {
		return err
	}
	printTable(stdout, devs, m.st, m.cpuPct, o.budget, o.interval, cmd, s.Notes())
	if m.smi != nil {
		printSMI(stdout, m.st, m.smi, m.from, m.to)
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(m.st); err != nil {
			return err
		}
	}
	return verdict(m, o.budget)
}

// measured is what one sampling window gave.
type measured struct {
	st       schema.GPUStats
	cpuPct   float64
	loadErr  error
	smi      []smiRow // nil without -smi
	from, to time.Time
}

// measure samples from now until the load exits (or for the duration), with
// nvidia-smi beside it when asked.
func measure(ctx context.Context, rec *gpu.Recorder, cmd *exec.Cmd, o options) (measured, error) {
	var m measured
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(runCtx)
	smi := startSMI(runCtx, o.smi)
	cpu0, err := cpuTime()
	if err != nil {
		return m, err
	}
	m.from = time.Now()
	w := rec.Open()
	g.Go(func() error { return rec.Run(gctx) })
	if cmd != nil {
		m.loadErr = cmd.Wait()
	} else {
		select {
		case <-ctx.Done():
		case <-time.After(o.duration):
		}
	}
	m.st = w.Close()
	m.to = time.Now()
	cpu1, err := cpuTime()
	if err != nil {
		return m, err
	}
	cancel()
	if err := g.Wait(); err != nil {
		return m, err
	}
	m.smi = smi()
	if err := ctx.Err(); err != nil {
		return m, fmt.Errorf("interrupted: %w", err)
	}
	m.cpuPct = float64(cpu1-cpu0) / float64(m.to.Sub(m.from)) * 100
	return m, nil
}

// verdict fails a check whose load failed, that took no sample, or whose
// sampler went over its CPU budget.
func verdict(m measured, budget float64) error {
	var problems []string
	if m.loadErr != nil {
		problems = append(problems, fmt.Sprintf("the load failed: %v", m.loadErr))
	}
	if m.st.Samples == 0 {
		problems = append(problems, "no sample was taken: "+m.st.Error)
	}
	if m.cpuPct >= budget {
		problems = append(problems, fmt.Sprintf("the sampler used %.2f%% of one core, over the %g%% budget", m.cpuPct, budget))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func printTable(out io.Writer, devs []schema.GPUInfo, st schema.GPUStats, cpuPct, budget float64, interval time.Duration, cmd *exec.Cmd, notes []string) {
	for _, d := range devs {
		fmt.Fprintf(out, "GPU %d: %s (%s), %.0f MiB, driver %s, CUDA %s, compute %s, power limit %.0f W\n",
			d.Index, d.Name, d.UUID, d.MemoryTotalMB, d.DriverVersion, d.CUDAVersion, d.ComputeCapability, d.PowerLimitW)
	}
	for _, n := range notes {
		fmt.Fprintf(out, "note: %s\n", n)
	}
	load := "none (idle sampling)"
	if cmd != nil {
		load = strings.Join(cmd.Args, " ")
		if len(load) > 60 {
			load = load[:57] + "..."
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("metric", "value")
	row("------", "-----")
	row("load", load)
	row("window", fmt.Sprintf("%.1f s", st.WindowS))
	row("interval", interval.String())
	row("samples taken", fmt.Sprintf("%d (%d failed)", st.Samples, st.SampleErrors))
	row("peak memory used", num(st.PeakVRAMUsedMB, "%.0f MiB"))
	row("avg memory used", num(st.AvgVRAMUsedMB, "%.0f MiB"))
	row("peak load process memory", num(st.ProcessVRAMMB, "%.0f MiB"))
	row("peak power", num(st.PeakPowerW, "%.1f W"))
	row("avg power", num(st.AvgPowerW, "%.1f W"))
	row("peak utilisation", num(st.PeakUtilPct, "%.0f %%"))
	row("avg utilisation", num(st.AvgUtilPct, "%.1f %%"))
	row("peak temperature", num(st.PeakTempC, "%.0f C"))
	row("energy", num(st.EnergyJ, "%.1f J"))
	reasons := strings.Join(st.ThrottleReasons, ", ")
	if reasons == "" {
		reasons = "none"
	}
	row("throttle reasons", reasons)
	row("GPUs measured", strings.TrimSpace(st.GPUSelection+" "+st.GPUSelectionNote))
	if st.ProcessVRAMNote != "" {
		row("load process memory", st.ProcessVRAMNote)
	}
	row("sampler CPU", fmt.Sprintf("%.3f %% of one core (budget %g %%)", cpuPct, budget))
	if st.Error != "" {
		row("errors", st.Error)
	}
	tw.Flush()
}

// num formats an optional figure; absent ones read "n/a".
func num(v *float64, format string) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf(format, *v)
}

// cpuTime is the CPU time this process has used (user + system; not its
// children, so the load does not count).
func cpuTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
