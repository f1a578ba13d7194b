package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/internal/testbed"
	"github.com/typhonbench/typhon/report"
)

type intList []int

func (l *intList) String() string { return fmt.Sprint(*l) }
func (l *intList) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("bad port %q", s)
	}
	*l = append(*l, n)
	return nil
}

// numList is a repeatable flag of non-negative integers (GPU indexes, PIDs).
type numList []int

func (l *numList) String() string { return fmt.Sprint(*l) }
func (l *numList) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("bad number %q", s)
	}
	*l = append(*l, n)
	return nil
}

type strList []string

func (l *strList) String() string     { return strings.Join(*l, ",") }
func (l *strList) Set(s string) error { *l = append(*l, s); return nil }

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	mode := fs.String("mode", string(typhon.DefaultMode), "plan: quick, full, zeus (131,072 and 262,144-token contexts) or load (a load sweep: see the load flags)")
	url := fs.String("url", "", "server base URL (default: detect)")
	model := fs.String("model", "", "model to request (default: the server's loaded model)")
	kind := fs.String("kind", "", "when several servers are found, pick this kind (llama.cpp, ollama, vllm, ...)")
	data := fs.String("data", typhon.DefaultDataDir(), "directory for records and the chronicle")
	apiKey := apiKeyFlags(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	demo := fs.Bool("demo", false, "start the test bed's llama-server with the tiny model, benchmark it, stop it")
	verbose := fs.Bool("v", false, "debug logging")
	var ports intList
	fs.Var(&ports, "port", "extra loopback port to probe (repeatable)")
	var gpus, pids numList
	fs.Var(&gpus, "gpu", "GPU the server uses, as NVML numbers it (repeatable; default: the GPUs holding the server's processes)")
	fs.Var(&pids, "server-pid", "process of the server, when Typhon cannot see it listen on its port (repeatable)")
	cgroup := fs.String("server-cgroup", "", "cgroup of the server's processes (a container's), under /sys/fs/cgroup or absolute")
	readLoad, wf := addWorkerFlags(fs, loadFlags(fs))
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := typhon.ValidMode(typhon.Mode(*mode)); err != nil {
		return usageError(stderr, fs, "%v", err)
	}
	*data = orDefaultData(*data)
	load, err := readLoad(*mode)
	if err != nil {
		return usageError(stderr, fs, "%v", err)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	r := typhon.Runner{
		Mode:    typhon.Mode(*mode),
		Load:    load,
		URL:     *url,
		Model:   *model,
		APIKey:  orEnvKey(*apiKey),
		DataDir: *data,
		Detect:  detect.Options{Ports: ports},
		Prefer:  detect.Preference{Kind: *kind},
		Logger:  slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),

		GPUIndexes:   gpus,
		ServerPIDs:   pids,
		ServerCgroup: *cgroup,
	}
	if *demo {
		fmt.Fprintln(stderr, "demo: starting llama-server with the generated tiny model...")
		srv, err := testbed.Start(ctx, testbed.KindLlama, testbed.Options{})
		if err != nil {
			return fmt.Errorf("demo: %w (run: bash scripts/testbed.sh)", err)
		}
		defer srv.Close() // Close also removes the server's temporary files
		fmt.Fprintf(stderr, "demo: llama-server on %s\n", srv.URL)
		r.URL, r.Model = srv.URL, srv.Model
	}

	res, err := runWithProgress(ctx, &r, stderr)
	if res != nil && len(res.Benchmarks) > 0 {
		if *asJSON {
			if werr := writeJSON(stdout, res); werr != nil {
				return werr
			}
		} else {
			printResult(stdout, res)
			printLoad(stdout, res)
		}
	}
	if err = wf.uploadAfter(ctx, res, err, stderr); err != nil {
		return fmt.Errorf("run failed: %w", err)
	}
	saveDashboard(res, *data, *asJSON, stdout, stderr)
	return nil
}

// saveDashboard writes the dashboard beside the record and, unless the output
// is JSON, says where both are; a failure to write it does not fail the run.
func saveDashboard(res *typhon.Result, data string, asJSON bool, stdout, stderr io.Writer) {
	dash, derr := (&report.Store{Dir: data}).SaveDashboard(res)
	if derr != nil {
		fmt.Fprintf(stderr, "typhon: dashboard: %v\n", derr)
	}
	if !asJSON {
		fmt.Fprintf(stdout, "\nrecord: %s\n", filepath.Join(data, report.RunsDir, res.RunID+".json"))
		if derr == nil {
			fmt.Fprintf(stdout, "dashboard: %s\n", dash)
		}
	}
}

// runWithProgress runs r, showing its progress on w until it returns.
func runWithProgress(ctx context.Context, r *typhon.Runner, w io.Writer) (*typhon.Result, error) {
	progress := make(chan typhon.Progress, 16)
	var wg sync.WaitGroup
	wg.Go(func() { showProgress(w, progress) })
	res, err := r.Run(ctx, progress)
	close(progress)
	wg.Wait()
	return res, err
}

// showProgress prints progress: one line rewritten in place on a terminal, a line
// per change elsewhere.
func showProgress(w io.Writer, ch <-chan typhon.Progress) {
	tty := isTerminal(w)
	last := ""
	for p := range ch {
		line := fmt.Sprintf("[%d/%d] %s", p.Done, p.Total, p.CurrentTest)
		if line == last {
			continue
		}
		last = line
		if tty {
			fmt.Fprintf(w, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(w, line)
		}
	}
	if tty && last != "" {
		fmt.Fprintln(w)
	}
}

func isTerminal(w io.Writer) bool {
	if u, ok := w.(interface{ Unwrap() io.Writer }); ok {
		w = u.Unwrap()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func printResult(w io.Writer, res *typhon.Result) {
	fmt.Fprintf(w, "%s  %s  model %s  mode %s  status %s\n", shown(res.Server.Name), shown(res.Server.APIBase), shown(res.Model), res.Mode, res.Status)
	if res.GPUUnavailable != "" {
		fmt.Fprintf(w, "GPU: not sampled (%s)\n", res.GPUUnavailable)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "test\tctx\tprompt\tout\truns ok\tavg tps\tbest tps\tavg ttft s\tavg elapsed s\t")
	for _, b := range res.Benchmarks {
		if b.Skipped {
			fmt.Fprintf(tw, "%s\t%d\t\t%d\tskipped\t\t\t\t\t %s\n", b.TestID, b.CtxSize, b.MaxTokens, b.SkipReason)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d/%d\t%.1f\t%.1f\t%.3f\t%.3f\t%s\n", b.TestID, b.CtxSize, promptTokens(b), b.MaxTokens,
			b.SuccessfulRuns, b.NRuns, b.AvgTPS, b.BestTPS, b.AvgTTFTS, b.AvgElapsedS, firstError(b))
	}
	tw.Flush()
}

func promptTokens(b typhon.Benchmark) int {
	for _, r := range b.Runs {
		if r.Success {
			return r.PromptTokens
		}
	}
	return b.PromptTokensTarget
}

func firstError(b typhon.Benchmark) string {
	if why := report.FailureReason(&b); why != "" {
		return " " + why
	}
	return ""
}

func cmdScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("scan", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	verbose := fs.Bool("v", false, "debug output: why each candidate was skipped")
	var ports intList
	var urls strList
	fs.Var(&ports, "port", "extra loopback port to probe (repeatable)")
	fs.Var(&urls, "url", "extra base URL to probe (repeatable)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	servers, err := detect.Scan(ctx, detect.Options{
		Ports:  ports,
		URLs:   urls,
		APIKey: os.Getenv("TYPHON_API_KEY"),
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		// Why an address asked for, or one that answered, is not listed.
		Skipped: func(s detect.Skip) { fmt.Fprintf(stderr, "not an LLM server: %s: %s\n", s.URL, cutTo(s.Reason, 600)) },
	})
	if err != nil {
		return err
	}
	if *asJSON {
		if servers == nil {
			servers = []detect.Server{}
		}
		return writeJSON(stdout, servers)
	}
	if len(servers) == 0 {
		fmt.Fprintln(stdout, "no LLM server found")
		return nil
	}
	return detect.WriteTable(stdout, servers)
}

func cmdHistory(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("history", stderr)
	data := fs.String("data", typhon.DefaultDataDir(), "directory of records")
	limit := fs.Int("limit", 20, "records per page")
	offset := fs.Int("offset", 0, "records to skip")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *limit <= 0 || *offset < 0 {
		return usageError(stderr, fs, "-limit must be positive and -offset not negative")
	}
	page, err := (&report.Store{Dir: orDefaultData(*data)}).ListPage(*offset, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, page)
	}
	items := page.Results
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN ID\tRUN AT\tSTATUS\tMODE\tSERVER\tMODEL\tTESTS\tFAILED\tERROR")
	for _, s := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.RunID, s.RunAt.Format("2006-01-02 15:04:05"), shown(s.Status), shown(s.Mode),
			shown(s.Server), shown(s.Model), s.Benchmarks, s.Failed, shown(s.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d of %d records\n", len(items), page.Total)
	return nil
}

func cmdCompare(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("compare", stderr)
	tol := fs.String("tolerance", "5%", "change beyond noise a metric must exceed to count (5%, or 0.05)")
	asJSON := fs.Bool("json", false, "print the comparison as JSON")
	allowModel := fs.Bool("allow-different-model", false, "compare records of different models or quantisations")
	allowServer := fs.Bool("allow-different-server", false, "compare records of different server kinds or builds")
	allowGPU := fs.Bool("allow-different-gpu", false, "compare records of different GPUs (or CPUs, without a GPU)")
	allowMode := fs.Bool("allow-different-mode", false, "compare records of different modes (the same tests are matched by test_id)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: typhon compare OLD.json NEW.json [flags]\n\n"+
			"Exit status: 0 no regression, 1 a regression, records not comparable or an error, 2 bad usage.\n\nflags:")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError(stderr, fs, "want two record files (OLD.json NEW.json), got %d arguments", len(pos))
	}
	tolerance, err := percent(*tol)
	if err != nil {
		return usageError(stderr, fs, "%v", err)
	}
	old, err := report.LoadFile(pos[0])
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	cur, err := report.LoadFile(pos[1])
	if err != nil {
		return fmt.Errorf("current: %w", err)
	}
	c := report.Compare(old, cur, report.CompareOptions{
		Tolerance:            tolerance,
		AllowDifferentModel:  *allowModel,
		AllowDifferentServer: *allowServer,
		AllowDifferentGPU:    *allowGPU,
		AllowDifferentMode:   *allowMode,
	})
	if *asJSON {
		err = writeJSON(stdout, c)
	} else {
		err = c.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	return compareOutcome(c)
}

// compareOutcome is compare's error: errRegression when a metric regressed, an
// error when nothing could be compared, nil otherwise.
func compareOutcome(c report.Comparison) error {
	switch {
	case len(c.Regressions()) > 0:
		return errRegression
	case !c.Comparable:
		return fmt.Errorf("the records are not comparable: %s", strings.Join(c.Reasons, "; "))
	case c.Verdict == report.VerdictNotComparable:
		return errors.New("the records are not comparable: no benchmark could be compared (see the table)")
	}
	return nil
}

func cmdSummary(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("summary", stderr)
	format := fs.String("format", "markdown", "markdown, benchstat (the Go benchmark format, for benchstat) or json (the compact summary of GET /report)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: typhon summary [-format markdown|benchstat|json] RUN.json\n\nPrints a summary of a record: hardware, server and model, a table per category, findings and a suggested server command.")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError(stderr, fs, "want one record file, got %d arguments", len(pos))
	}
	if *format != "markdown" && *format != "benchstat" && *format != "json" {
		return usageError(stderr, fs, "unknown format %q: want markdown, benchstat or json", *format)
	}
	res, err := report.LoadFile(pos[0])
	if err != nil {
		return err
	}
	tame(res)
	switch *format {
	case "benchstat":
		return report.Benchstat(stdout, res)
	case "json":
		return writeJSON(stdout, report.NewBrief(res))
	}
	return report.Markdown(stdout, res)
}
