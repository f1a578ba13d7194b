// Command httpserver serves Typhon's HTTP job API (spec/jobs.md): submit a
// benchmark job, poll its progress, read its result and the records on disk.
//
//	go run ./examples/httpserver [-addr 127.0.0.1:8000] [-data DIR] [-token-file F] [-url URL] [-api-key-file F]
//
// It listens on loopback by default and refuses any other address unless a
// token is set; with a token every endpoint but /health requires
// "Authorization: Bearer <token>". Without a token it serves only requests whose
// Host names a loopback address, localhost or the listen address, and refuses
// (403) a state-changing request from another origin, so that no web page can
// start a job or read the results. Secrets are best passed in a file
// (-token-file, -api-key-file) or the environment (TYPHON_TOKEN,
// TYPHON_API_KEY): -token and -api-key show in the process list. The API key
// of the server under test is sent to that server only; it is never written to
// a record, the chronicle or the log. The endpoints are described by the
// OpenAPI document served at /openapi.json.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/engine"
	_ "github.com/typhonbench/typhon/gpu/nvml" // registers the NVML GPU sampler
	"github.com/typhonbench/typhon/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "httpserver:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	addr       string
	data       string
	token      string
	url        string
	model      string
	apiKey     string
	queue      int
	jobTimeout time.Duration
	verbose    bool
	gpus       []int // GPUs the server uses; nil: found from its processes
	serverPIDs []int
	cgroup     string // the server's cgroup
	ask        askConfig

	// plan, when set, replaces the plan of every job (tests use tiny plans).
	plan *engine.Plan
	// detect is the base of the detection options (tests add ports).
	detect detect.Options
}

// tokenPlaceholder begins the token of the Secret in deploy/kubernetes as
// published: a collector started with it would take uploads from anyone who
// read the manifest.
const tokenPlaceholder = "CHANGE-ME"

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("httpserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8000", "listen address (loopback unless -token is set)")
	fs.StringVar(&c.data, "data", typhon.DefaultDataDir(), "directory for records and the chronicle")
	fs.StringVar(&c.token, "token", "", "bearer token required on every endpoint but /health (default $TYPHON_TOKEN; visible in the process list: prefer -token-file)")
	tokenFile := fs.String("token-file", "", "read the bearer token from this file")
	apiKeyFile := fs.String("api-key-file", "", "read the API key of the server under test from this file")
	fs.StringVar(&c.url, "url", "", "benchmark this server base URL instead of detecting one")
	fs.StringVar(&c.model, "model", "", "model to request (default: the server's loaded model)")
	fs.StringVar(&c.apiKey, "api-key", "", "API key of the server under test, sent as a bearer token to it (default $TYPHON_API_KEY)")
	fs.IntVar(&c.queue, "queue", typhon.DefaultQueueLimit, "maximum pending jobs")
	fs.DurationVar(&c.jobTimeout, "job-timeout", typhon.DefaultJobTimeout, "maximum duration of one job")
	fs.BoolVar(&c.verbose, "v", false, "debug logging")
	fs.Func("gpu", "GPU the server uses, as NVML numbers it (repeatable; default: the GPUs holding the server's processes)", numFlag(&c.gpus))
	fs.Func("server-pid", "process of the server, when Typhon cannot see it listen on its port (repeatable)", numFlag(&c.serverPIDs))
	fs.StringVar(&c.cgroup, "server-cgroup", "", "cgroup of the server's processes (a container's), under /sys/fs/cgroup or absolute")
	fs.StringVar(&c.ask.url, "ask-url", "", "OpenAI-compatible server GET /ask asks (default: the server of the last run)")
	fs.StringVar(&c.ask.model, "ask-model", "", "model GET /ask asks (default: the model of the last run)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	// Read here, not as the flags' defaults, so that -h never prints a secret.
	var err error
	if c.token, err = secret("token", c.token, *tokenFile, "TYPHON_TOKEN"); err != nil {
		return c, err
	}
	if c.apiKey, err = secret("api-key", c.apiKey, *apiKeyFile, "TYPHON_API_KEY"); err != nil {
		return c, err
	}
	if strings.Contains(c.token, tokenPlaceholder) {
		return c, fmt.Errorf("the token is the placeholder of the published manifests (%s...): set a long random one", tokenPlaceholder)
	}

	if c.queue < 1 {
		return c, fmt.Errorf("bad -queue %d: want at least 1", c.queue)
	}
	if c.jobTimeout <= 0 {
		return c, fmt.Errorf("bad -job-timeout %v: want a positive duration", c.jobTimeout)
	}
	return c, nil
}

// run serves until ctx is cancelled. It writes the listening address to stdout
// as "listening on http://ADDR".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, c, stdout, stderr)
}

// serve is run after the flags are parsed.
func serve(ctx context.Context, c config, stdout, stderr io.Writer) error {
	level := slog.LevelInfo
	if c.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	data, err := dataDir(c.data, logger)
	if err != nil {
		return err
	}
	c.data = data
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return fmt.Errorf("bad -addr %q: %w", c.addr, err)
	}
	if !isLoopback(host) && c.token == "" {
		return fmt.Errorf("refusing to listen on non-loopback address %q without a token (set -token or TYPHON_TOKEN)", c.addr)
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	self := "http://" + ln.Addr().String()
	ln = limitConns(ln, maxConns)

	det := c.detect
	det.Exclude = append(det.Exclude[:len(det.Exclude):len(det.Exclude)], self)
	if det.APIKey == "" {
		det.APIKey = c.apiKey
	}
	mgr := &typhon.Manager{
		Runner: typhon.Runner{
			URL:     c.url,
			Model:   c.model,
			APIKey:  c.apiKey,
			Plan:    c.plan,
			DataDir: c.data,
			Detect:  det,
			Logger:  logger,

			GPUIndexes:   c.gpus,
			ServerPIDs:   c.serverPIDs,
			ServerCgroup: c.cgroup,
		},
		QueueLimit: c.queue,
		JobTimeout: c.jobTimeout,
	}
	api := newAPI(mgr, c.token, logger)
	api.guard.listen = host
	api.askCfg = c.ask
	srv := newHTTPServer(api)
	fmt.Fprintf(stdout, "listening on %s\n", self)
	logger.Info("serving", "addr", self, "data", c.data, "url", shownURL(c.url), "model", c.model,
		"token", c.token != "", "api_key", c.apiKey != "", "queue", c.queue, "job_timeout", c.jobTimeout)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := mgr.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

// newHTTPServer serves h with every timeout set: a client that is slow to send
// its headers or body, or idle, gives its connection back (see maxConns).
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// dataDir is the one data directory of the jobs and the API alike, resolved
// once: "" means typhon.DefaultDataDir(). Records left "running" by a process
// that died are marked interrupted before the first request is served (the
// Manager's own recovery then finds nothing), so /results never shows them
// running.
func dataDir(dir string, logger *slog.Logger) (string, error) {
	if dir == "" {
		dir = typhon.DefaultDataDir()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("bad -data: %w", err)
	}
	if ids, err := (&report.Store{Dir: abs, Logger: logger}).Recover(); err != nil {
		logger.Warn("recover interrupted records", "err", err)
	} else if len(ids) > 0 {
		logger.Info("records marked interrupted", "ids", ids)
	}
	return abs, nil
}

// secret is a secret flag's value: the flag itself, else the file, else the
// environment variable. Surrounding white space (a file's newline) is dropped;
// a secret that is empty after that, or holds white space, is refused.
func secret(name, flagValue, file, env string) (string, error) {
	v, from := flagValue, "-"+name
	switch {
	case v != "" && file != "":
		return "", fmt.Errorf("both -%s and -%s-file given", name, name)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("-%s-file: %w", name, err)
		}
		v, from = string(b), "-"+name+"-file"
	case v == "":
		v, from = os.Getenv(env), "$"+env
		if v == "" {
			return "", nil
		}
	}
	v = strings.TrimSpace(v)
	if v == "" || strings.ContainsAny(v, " \t\r\n") {
		return "", fmt.Errorf("bad %s: the %s is empty or holds white space", from, name)
	}
	return v, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// numFlag parses one value of a repeatable flag of non-negative integers.
func numFlag(dst *[]int) func(string) error {
	return func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("bad number %q", s)
		}
		*dst = append(*dst, n)
		return nil
	}
}

// shownURL is a URL for the log, without the password it may hold.
func shownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	return u.Redacted()
}
