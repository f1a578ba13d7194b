// Command typhon benchmarks the LLM server on this machine from a terminal.
//
//	typhon run [-mode quick|full] [-url U] [-model M] [-data DIR] [-json] [-demo]
//	typhon scan [-json] [-port N] [-url U]
//	typhon history [-data DIR] [-limit N] [-offset N] [-json]
//	typhon compare OLD.json NEW.json [-tolerance 5%] [-json]
//	typhon summary RUN.json
//
// run -demo starts the test bed's llama-server with the generated tiny model on a
// free port (scripts/testbed.sh provisions it), benchmarks it and stops it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	_ "github.com/typhonbench/typhon/gpu/nvml" // registers the NVML GPU sampler
	"github.com/typhonbench/typhon/schema"
)

// errRegression makes compare exit 1 without an error message of its own.
var errRegression = errors.New("regression found")

// errUsage is a usage error; the usage was printed already.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, errRegression):
		os.Exit(1)
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "typhon:", err)
		os.Exit(1)
	}
}

const usage = `usage: typhon <command> [flags]

commands:
  run       benchmark a server (detected, -url, or -demo)
  scan      list the LLM servers found on this machine
  history   list the records on disk, newest first
  compare   compare two records; exit 1 on regression
  summary   print a Markdown summary of a record

"typhon <command> -h" lists a command's flags.
`

// run dispatches a command; it is main without the exits.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// readResult reads one record file.
func readResult(path string) (*schema.Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res schema.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: not a Typhon record: %w", path, err)
	}
	if res.SchemaVersion == 0 {
		return nil, fmt.Errorf("%s: not a Typhon record: no schema_version", path)
	}
	return &res, nil
}

// percent parses "5%", "5" (percent) or "0.05" (fraction).
func percent(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(t, "%"); ok {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("bad percentage %q", s)
		}
		return v / 100, nil
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad tolerance %q: want e.g. 5%% or 0.05", s)
	}
	if v >= 1 {
		return v / 100, nil
	}
	return v, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
