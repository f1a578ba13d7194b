package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/advice"
	"github.com/typhonbench/typhon/report"
)

// cmdAsk sends a run's summary to an LLM server and streams its advice.
func cmdAsk(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ask", stderr)
	url := fs.String("url", "", "OpenAI-compatible server to ask (default: the server that was benchmarked)")
	model := fs.String("model", "", "model to ask (default: the model that was benchmarked)")
	q := fs.String("q", "", "question (default: how to make the server faster or serve longer contexts)")
	data := fs.String("data", typhon.DefaultDataDir(), "data directory whose last run is asked about when no RUN.json is given")
	apiKey := fs.String("api-key", os.Getenv("TYPHON_API_KEY"), "bearer token for the server asked (default $TYPHON_API_KEY; never sent in the summary)")
	timeout := fs.Duration("timeout", advice.DefaultTimeout, "longest time to wait for the whole answer")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: typhon ask [-url U] [-model M] [-q \"question\"] [RUN.json]\n\n"+
			"Sends the compact summary of a run (figures, findings, suggested command, hardware; never\n"+
			"API keys, paths or host names) to an OpenAI-compatible server and streams its advice.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError(stderr, fs, "want at most one record file, got %d", len(pos))
	}
	name := filepath.Join(*data, report.LastRunFile)
	if len(pos) == 1 {
		name = pos[0]
	}
	res, err := report.LoadFile(name)
	if errors.Is(err, iofs.ErrNotExist) && len(pos) == 0 {
		return fmt.Errorf("no run recorded in %s yet: run 'typhon run' first, or name a RUN.json", *data)
	}
	if err != nil {
		return err
	}
	key := *apiKey
	if *url == "" && key != "" && !flagSet(fs, "api-key") && !loopback(res.Server.APIBase) {
		// A record may come from elsewhere: $TYPHON_API_KEY goes to the server it
		// names only when that is this machine's, or when asked for by a flag.
		fmt.Fprintf(stderr, "typhon: $TYPHON_API_KEY not sent to %s, which the record names (not this machine); give -api-key or -url to send a key\n", hostOf(res.Server.APIBase))
		key = ""
	}
	_, err = advice.Ask(ctx, res, advice.Target{BaseURL: *url, Model: *model, APIKey: key, Question: *q,
		Secrets: []string{*data, *apiKey}, Timeout: *timeout}, stdout)
	fmt.Fprintln(stdout)
	return err
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// loopback reports whether base names a server on this machine.
func loopback(base string) bool {
	u, err := neturl.Parse(base)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return strings.EqualFold(u.Hostname(), "localhost") || ip != nil && ip.IsLoopback()
}

// hostOf is the host of base, for a message.
func hostOf(base string) string {
	if u, err := neturl.Parse(base); err == nil && u.Host != "" {
		return u.Host
	}
	return "the server"
}
