// Package browser renders a page in a real headless Chromium for tests: the
// DOM after load, a screenshot, the browser's console log and every network
// request the page made, read from the browser's net log. Every request that
// leaves the browser goes to a proxy that refuses it, so a page that would load
// something from elsewhere is caught, not served. scripts/testbed.sh installs
// Debian's chromium.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ErrNotInstalled is returned when no chromium is on the PATH.
var ErrNotInstalled = errors.New("browser: chromium is not installed (run scripts/testbed.sh)")

// Find is the path of the chromium binary.
func Find() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// Page is what the browser made of a page.
type Page struct {
	DOM        string   // the document serialised after load (scripts, if any ran, have run)
	Screenshot []byte   // PNG of the first Height pixels
	Log        string   // the browser's stderr: console messages, load errors
	Console    []string // console messages and page errors found in Log
	// Requests are the URLs the page asked for beyond its own file: what the
	// browser's net log shows was requested on behalf of the page (its network
	// isolation key is the page's file:// site). Every request that left the
	// browser went to a proxy that refused it.
	Requests []string
	// BrowserRequests are what the browser asked for on its own behalf
	// (updates, accounts), not the page's; the proxy refused them too.
	BrowserRequests []string
}

// Options tune Render; zero values take the defaults.
type Options struct {
	Width, Height int           // window size in CSS pixels; default 1200 x 3000
	Timeout       time.Duration // per browser run; default 60 s
	DarkMode      bool          // render with prefers-color-scheme: dark
}

// Render loads html (written to a temporary file) in headless Chromium twice,
// once for the DOM and once for a screenshot, with a fresh profile, networking
// pointed at a recording proxy and the background services off.
func Render(ctx context.Context, html []byte, opts Options) (*Page, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	if opts.Width <= 0 {
		opts.Width = 1200
	}
	if opts.Height <= 0 {
		opts.Height = 3000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	dir, err := os.MkdirTemp("", "typhon-browser-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	page := filepath.Join(dir, "page.html")
	if err := os.WriteFile(page, html, 0o644); err != nil {
		return nil, err
	}
	p := &Page{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no network in this test", http.StatusForbidden)
	}))
	defer proxy.Close()

	run := func(profile string, extra ...string) ([]byte, string, error) {
		return runChromium(ctx, bin, dir, page, profile, proxy.URL, opts, extra...)
	}
	dom, log1, err := run("dom", "--dump-dom")
	if err != nil {
		return nil, fmt.Errorf("browser: dump-dom: %w\n%s", err, log1)
	}
	shot := filepath.Join(dir, "shot.png")
	_, log2, err := run("shot", "--screenshot="+shot)
	if err != nil {
		return nil, fmt.Errorf("browser: screenshot: %w\n%s", err, log2)
	}
	if p.Screenshot, err = os.ReadFile(shot); err != nil {
		return nil, fmt.Errorf("browser: no screenshot: %w\n%s", err, log2)
	}
	p.DOM, p.Log = string(dom), log1+log2
	for _, l := range strings.Split(p.Log, "\n") {
		if strings.Contains(l, ":CONSOLE") || strings.Contains(l, "Uncaught") || strings.Contains(l, "Content Security Policy") {
			p.Console = append(p.Console, l)
		}
	}
	for _, profile := range []string{"dom", "shot"} {
		page, browser, err := netRequests(filepath.Join(dir, profile+".netlog.json"))
		if err != nil {
			return nil, err
		}
		p.Requests = append(p.Requests, page...)
		p.BrowserRequests = append(p.BrowserRequests, browser...)
	}
	return p, nil
}

// runChromium runs the browser once on page with a fresh profile in dir, its
// network going to proxy, and returns its stdout and stderr.
func runChromium(ctx context.Context, bin, dir, page, profile, proxy string, opts Options, extra ...string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--no-default-browser-check", "--no-pings",
		"--disable-domain-reliability", "--disable-client-side-phishing-detection", "--metrics-recording-only",
		"--disable-field-trial-config", "--safebrowsing-disable-auto-update", "--password-store=basic",
		"--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater,SigninInterceptBubble,AccountConsistency,ChromeWhatsNewUI",
		"--user-data-dir=" + filepath.Join(dir, profile),
		"--proxy-server=" + proxy, "--proxy-bypass-list=<-loopback>",
		"--enable-logging=stderr", "--v=0", "--hide-scrollbars",
		"--log-net-log=" + filepath.Join(dir, profile+".netlog.json"), "--net-log-capture-mode=Default",
		fmt.Sprintf("--window-size=%d,%d", opts.Width, opts.Height),
	}, extra...)
	if opts.DarkMode {
		args = append(args, "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
	}
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("browser: %w after %v", ctx.Err(), opts.Timeout)
	}
	return stdout.Bytes(), stderr.String(), err
}

// markup is an element that could load something or run a script.
var markup = regexp.MustCompile(`<(script|img|iframe|object|embed|link|a|video|audio|source)\b[^>]*>`)

// handler is an element with an event handler attribute.
var handler = regexp.MustCompile(`<[a-z][^>]*\son[a-z]+=`)

// Problems lists what a self-contained, script-free page must not show: console
// messages or page errors, requests for anything beyond the page, and elements
// that load or run something (script, img, iframe, link, ...) or carry an event
// handler. Empty when there is none.
func (p *Page) Problems() []string {
	var out []string
	for _, c := range p.Console {
		out = append(out, "console: "+c)
	}
	for _, r := range p.Requests {
		out = append(out, "request: "+r)
	}
	if m := markup.FindString(p.DOM); m != "" {
		out = append(out, "element: "+m)
	}
	if m := handler.FindString(p.DOM); m != "" {
		out = append(out, "event handler: "+m)
	}
	return out
}

// netRequests reads a Chromium net log: the URLs requested for a file:// page
// (but not file: or data: URLs) and those the browser requested for itself.
func netRequests(path string) (page, browser []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("browser: net log: %w", err)
	}
	var log struct {
		Constants struct {
			LogEventTypes map[string]int `json:"logEventTypes"`
		} `json:"constants"`
		Events []struct {
			Type   int `json:"type"`
			Params struct {
				URL string `json:"url"`
				NIK string `json:"network_isolation_key"`
			} `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &log); err != nil {
		// A browser that did not close the log leaves the events array open.
		trimmed := strings.TrimRight(strings.TrimSpace(string(b)), ",")
		if err2 := json.Unmarshal([]byte(trimmed+"]}"), &log); err2 != nil {
			return nil, nil, fmt.Errorf("browser: net log: %w", err)
		}
	}
	start, ok := log.Constants.LogEventTypes["URL_REQUEST_START_JOB"]
	if !ok {
		return nil, nil, errors.New("browser: net log has no URL_REQUEST_START_JOB event type")
	}
	for _, e := range log.Events {
		u := e.Params.URL
		if e.Type != start || u == "" || strings.HasPrefix(u, "file:") || strings.HasPrefix(u, "data:") {
			continue
		}
		if strings.Contains(e.Params.NIK, "file://") {
			page = append(page, u)
		} else {
			browser = append(browser, u)
		}
	}
	return page, browser, nil
}

// PrintPDF prints html to PDF as the browser's print dialog would, honouring the
// page's @page rules, without header or footer.
func PrintPDF(ctx context.Context, html []byte, opts Options) ([]byte, error) {
	bin, err := Find()
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	opts.Width, opts.Height = max(opts.Width, 1200), max(opts.Height, 900)
	dir, err := os.MkdirTemp("", "typhon-browser-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	page, pdf := filepath.Join(dir, "page.html"), filepath.Join(dir, "page.pdf")
	if err := os.WriteFile(page, html, 0o644); err != nil {
		return nil, err
	}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no network in this test", http.StatusForbidden)
	}))
	defer proxy.Close()
	if _, log, err := runChromium(ctx, bin, dir, page, "pdf", proxy.URL, opts, "--no-pdf-header-footer", "--print-to-pdf="+pdf); err != nil {
		return nil, fmt.Errorf("browser: print-to-pdf: %w\n%s", err, log)
	}
	return os.ReadFile(pdf)
}
