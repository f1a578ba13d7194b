// Command typhon benchmarks the LLM server on this machine from a terminal.
//
//	typhon run [-mode quick|full|zeus] [-url U] [-model M] [-data DIR] [-json] [-demo]
//	typhon scan [-json] [-port N] [-url U]
//	typhon history [-data DIR] [-limit N] [-offset N] [-json]
//	typhon compare OLD.json NEW.json [-tolerance 5%] [-json] [-allow-different-model|server|gpu|mode]
//	typhon summary [-format markdown|benchstat|json] RUN.json
//	typhon dashboard [-o FILE] [-data DIR] [RUN.json ...]
//	typhon export [-data DIR] [-o FILE] [RUN.json ...] | typhon export -check FILE
//	typhon ask [-url U] [-model M] [-q "question"] [-data DIR] [RUN.json]
//	typhon merge [-o FILE] [-data DIR] [-save] FILES...|RUN
//
// run writes an HTML dashboard beside the record (DATA/runs/<run_id>.html) and
// prints its path. dashboard renders one or more records (default: the last
// run) to one self-contained HTML file, by default beside a single record or
// typhon-dashboard.html for several; "-o -" writes to stdout.
//
// run -demo starts the test bed's llama-server with the generated tiny model on a
// free port (scripts/testbed.sh provisions it), benchmarks it and stops it.
//
// A record file is what run writes (DATA/runs/<run_id>.json, DATA/last_run.json)
// or a job saved from the HTTP API (GET /jobs/{id}).
//
// Exit status: 0 on success, 1 on an error, 2 on a bad command line. compare exits
// 1 when a metric regressed, or when the records are not comparable (another
// model, server build, GPU or mode; the -allow-different-* flags allow it), so
// that a CI step cannot pass without a comparison.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	_ "github.com/typhonbench/typhon/gpu/nvml" // registers the NVML GPU sampler
)

// errRegression makes compare exit 1 without an error message of its own.
var errRegression = errors.New("regression found")

// errUsage is a usage error; the message was printed already.
var errUsage = errors.New("usage")

// Exit codes of the process.
const (
	exitOK    = 0 // done; compare: no regression
	exitError = 1 // an error; compare: a regression, or runs that are not comparable
	exitUsage = 2 // bad command line
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	code := exitCode(err)
	if code == exitError && !errors.Is(err, errRegression) {
		fmt.Fprintln(os.Stderr, "typhon:", err)
	}
	os.Exit(code)
}

// exitCode maps run's error to the process's exit status.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp): // -h printed the help asked for
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	}
	return exitError
}

// usageError prints "typhon <cmd>: msg" and a hint to stderr and returns errUsage.
func usageError(stderr io.Writer, fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(stderr, "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fmt.Fprintf(stderr, "run '%s -h' for the flags\n", fs.Name())
	return errUsage
}

const usage = `usage: typhon <command> [flags]

commands:
  run       benchmark a server (detected, -url, or -demo)
  scan      list the LLM servers found on this machine
  history   list the records on disk, newest first
  compare   compare two records; exit 1 on regression
  summary   print a summary of a record: Markdown, benchstat or JSON
  dashboard write an HTML dashboard of one or more records
  export    write anonymised community data (or -check a file)
  ask       ask an LLM server for advice on a run (default: the last run)
  merge     merge the records of a distributed run's workers into one

"typhon <command> -h" lists a command's flags.
`

// run dispatches a command; it is main without the exits.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// Names and errors come from servers and records: never let them reach a
	// terminal as escape sequences.
	stdout, stderr = escaper{stdout}, escaper{stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "scan":
		return cmdScan(ctx, rest, stdout, stderr)
	case "history":
		return cmdHistory(rest, stdout, stderr)
	case "compare":
		return cmdCompare(rest, stdout, stderr)
	case "summary":
		return cmdSummary(rest, stdout, stderr)
	case "dashboard":
		return cmdDashboard(rest, stdout, stderr)
	case "export":
		return cmdExport(ctx, rest, stdout, stderr)
	case "ask":
		return cmdAsk(ctx, rest, stdout, stderr)
	case "merge":
		return cmdMerge(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "typhon: unknown command %q\n\n%s", cmd, usage)
	return errUsage
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("typhon "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags that may stand before or after the positional arguments.
// A bad flag is a usage error (the flag package printed it); -h returns
// flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// percent parses a tolerance: "5%" or "5" (percent) or "0.05" (a fraction below
// 1). It must be above 0 (report.Compare reads 0 as its default) and below 100%
// (no fall of a higher-is-better metric could exceed it).
func percent(s string) (float64, error) {
	t := strings.TrimSpace(s)
	p, isPct := strings.CutSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
		return 0, fmt.Errorf("bad tolerance %q: want a positive percentage such as 5%% (or a fraction such as 0.05)", s)
	}
	if isPct || v >= 1 {
		v /= 100
	}
	if v >= 1 {
		return 0, fmt.Errorf("bad tolerance %q: a fall of tokens/s can never reach 100%%, so any collapse would pass; want less than 100%%", s)
	}
	return v, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
