package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/typhonbench/typhon/advice"
	"github.com/typhonbench/typhon/report"
)

// Bounds of GET /ask.
const (
	// askTimeout bounds the whole answer of the LLM server.
	askTimeout = 2 * time.Minute
	// askMaxAnswer bounds the answer's size in bytes.
	askMaxAnswer = 32 << 10
	// askMaxQuestion bounds the question's size in bytes.
	askMaxQuestion = 2000
	// askMaxInFlight bounds the asks in progress at once; more are refused 429.
	askMaxInFlight = 2
)

// errAskBusy: askMaxInFlight asks are in progress.
var errAskBusy = errors.New("busy")

// askConfig says whom GET /ask asks; the zero value asks the server that was
// benchmarked for the model that was benchmarked.
type askConfig struct {
	url, model string
	timeout    time.Duration // 0: askTimeout
}

// askAnswer is the body of a 200 from GET /ask.
type askAnswer struct {
	RunID    string `json:"run_id"`
	Question string `json:"question"`
	Answer   string `json:"answer"`
}

// ask answers GET /ask?q=...: advice on the last run from an LLM server. 404
// without a run; 502 with the LLM server's error when it fails or runs out of
// time.
func (a *api) ask(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if len(q["q"]) > 1 {
		writeError(w, r, a.logger, fmt.Errorf("%w: q given %d times", errBadRequest, len(q["q"])))
		return
	}
	question := q.Get("q")
	if len(question) > askMaxQuestion {
		writeError(w, r, a.logger, fmt.Errorf("%w: q is longer than %d bytes", errBadRequest, askMaxQuestion))
		return
	}
	if a.asks.Add(1) > askMaxInFlight {
		a.asks.Add(-1)
		writeError(w, r, a.logger, fmt.Errorf("%w: %d asks are in progress; ask again when one has ended", errAskBusy, askMaxInFlight))
		return
	}
	defer a.asks.Add(-1)
	res, err := report.LoadFile(filepath.Join(a.store.Dir, report.LastRunFile))
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, r, a.logger, fmt.Errorf("%w: no run recorded yet", errNotFound))
		return
	}
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	timeout := a.askCfg.timeout
	if timeout <= 0 {
		timeout = askTimeout
	}
	// The benchmarked server's key stays out of the summary whoever is asked.
	t := advice.Target{BaseURL: a.askCfg.url, Model: a.askCfg.model, Question: question,
		Secrets: []string{a.store.Dir, a.mgr.Runner.APIKey}, Timeout: timeout, MaxAnswerBytes: askMaxAnswer}
	if t.BaseURL == "" && runnersServer(a.mgr.Runner.URL, res.Server.APIBase) {
		t.APIKey = a.mgr.Runner.APIKey // the benchmarked server's key, for that server only
	}
	answer, err := advice.Ask(r.Context(), res, t, nil) // its own deadline: ErrServer, "no answer within"
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	if question == "" {
		question = advice.DefaultQuestion
	}
	writeJSON(w, http.StatusOK, askAnswer{RunID: res.RunID, Question: question, Answer: answer})
}

// runnersServer reports whether base, the server a record names (the last run
// may be a record a worker uploaded), is the server the runner benchmarks:
// the same scheme, host and port as runnerURL, or, when the runner detects
// its server (runnerURL ""), a loopback address. Only then does GET /ask send
// the runner's API key.
func runnersServer(runnerURL, base string) bool {
	b, err := url.Parse(base)
	if err != nil || b.Host == "" {
		return false
	}
	if runnerURL == "" {
		h := b.Hostname()
		ip := net.ParseIP(h)
		return strings.EqualFold(h, "localhost") || ip != nil && ip.IsLoopback()
	}
	r, err := url.Parse(runnerURL)
	return err == nil && strings.EqualFold(r.Scheme, b.Scheme) && strings.EqualFold(r.Hostname(), b.Hostname()) &&
		portOf(r) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}
