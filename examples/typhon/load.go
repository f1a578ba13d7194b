package main

import (
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/schema"
)

// loadFlagHelp describes the load flags of `typhon run` (engine.LoadParams).
var loadFlagHelp = map[string]string{
	"users":         "mode load: users of each level, e.g. 1,2,4,8 (default 1, 2, 4, ... until the server saturates)",
	"rate":          "mode load: request rates of each level in requests/s, e.g. 0.5,1,2 (Poisson arrivals; not with -users)",
	"duration":      "mode load: measured window of each level (default 60s)",
	"ramp_up":       "mode load: ramp-up before each window, not counted (default a quarter of the window, at most 10s)",
	"grace":         "mode load: how long a level waits after its window for the requests in flight before cutting them (default 30s)",
	"slo":           "mode load: objectives, e.g. ttft=2s,tpot=100ms,e2e=30s (goodput counts requests meeting all)",
	"input":         "mode load: prompt tokens of each request (default 512)",
	"output":        "mode load: output tokens of each request (default 128)",
	"input_stdev":   "mode load: standard deviation of the prompt lengths (default 0: fixed)",
	"output_stdev":  "mode load: standard deviation of the output lengths (default 0: fixed)",
	"shared_prefix": "mode load: tokens of a prefix every prompt shares, to measure a prefix cache (default 0: cache-cold)",
	"burstiness":    "mode load: gamma shape of the arrivals of a rate sweep (default 1: Poisson)",
	"max_in_flight": "mode load: cap on the requests in flight of a rate level (default 1024)",
	"max_users":     "mode load: most users of a sweep that finds its own levels (default 256)",
}

// loadFlags defines the load flags on fs; the function returned reads them
// into LoadOptions once fs is parsed, refusing them with another mode.
func loadFlags(fs *flag.FlagSet) func(mode string) (engine.LoadOptions, error) {
	vals := map[string]*string{}
	for _, name := range engine.LoadParams {
		vals[name] = fs.String(name, "", loadFlagHelp[name])
	}
	return func(mode string) (engine.LoadOptions, error) {
		if mode != typhon.ModeLoad {
			for _, name := range engine.LoadParams {
				if *vals[name] != "" {
					return engine.LoadOptions{}, fmt.Errorf("-%s is a flag of -mode load, not of -mode %s", name, mode)
				}
			}
			return engine.LoadOptions{}, nil
		}
		return engine.ParseLoadParams(func(name string) string { return *vals[name] })
	}
}

// printLoad prints the load levels of a result and its capacity.
func printLoad(w io.Writer, res *typhon.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := false
	for _, b := range res.Benchmarks {
		l := b.LoadLevel
		if l == nil {
			continue
		}
		if !header {
			fmt.Fprintln(w)
			fmt.Fprintln(tw, "level\tok\tfailed\treq/s\tout tok/s\tgoodput\tttft p50 s\tttft p90 s\ttpot p50 s\titl p99 s\te2e p90 s\t")
			header = true
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.1f\t%.2f\t%.3f\t%.3f\t%.4f\t%.4f\t%.3f\t%s\n", b.TestID, l.Completed, l.Failed,
			l.RequestThroughput, l.OutputTPS, l.Goodput, l.Latency.TTFTS.P50, l.Latency.TTFTS.P90, l.Latency.TPOTS.P50,
			l.Latency.ITLS.P99, l.Latency.E2ES.P90, firstError(b))
	}
	tw.Flush()
	for _, c := range []*schema.Capacity{res.Capacity, res.RateCapacity} {
		if c == nil {
			continue
		}
		fmt.Fprintf(w, "\ncapacity (%s): stopped by %s: %s\n", c.Shape, c.StoppedBy, c.Reason)
		for _, e := range []struct {
			name string
			l    *schema.CapacityLevel
		}{{"peak", c.Peak}, {"within SLO", c.WithinSLO}, {"saturation", c.Saturation}} {
			if e.l != nil {
				fmt.Fprintf(w, "  %s: %s: %s\n", e.name, e.l.TestID, e.l.Why)
			}
		}
	}
}
