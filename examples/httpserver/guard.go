package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/schema"
)

// Limits of the server itself.
const (
	// maxConns caps the connections served at once; more wait in the kernel's
	// accept queue, so a flood of idle connections cannot take the file
	// descriptors the running benchmark needs.
	maxConns = 256
	// maxDetail bounds the text of an error answer (it may echo input).
	maxDetail = 512
)

var errForbidden = errors.New("forbidden")

// hostGuard decides which requests may reach the API at all: without a token
// only those whose Host names this machine's loopback or the listen address
// (a DNS-rebinding page sends its own name), and never a state-changing request
// from another origin (a page on any web site can send a "simple" POST).
type hostGuard struct {
	token  string
	listen string // host of the listen address
}

// check returns nil or an error wrapping errForbidden.
func (g hostGuard) check(r *http.Request) error {
	if g.token == "" && !g.allowedHost(r.Host) {
		return errForbidden
	}
	if !actsOnRequest(r) {
		return nil
	}
	return sameOrigin(r)
}

// actsOnRequest reports whether r changes state or makes the server work for
// it elsewhere: every method but GET, HEAD and OPTIONS, and GET /ask, which
// sends a question to an LLM server (a page can send it as an <img>).
func actsOnRequest(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return r.URL.Path == "/ask"
	}
	return true
}

// sameOrigin refuses a request a browser sent from another origin: a
// Sec-Fetch-Site other than same-origin or none, an Origin (or, when there is
// none, a Referer) naming another host. Every value of a repeated header counts.
func sameOrigin(r *http.Request) error {
	for _, site := range r.Header.Values("Sec-Fetch-Site") {
		if site != "same-origin" && site != "none" {
			return errForbidden
		}
	}
	origins := r.Header.Values("Origin")
	for _, o := range origins {
		u, err := url.Parse(o)
		if o == "null" || err != nil || !strings.EqualFold(u.Host, r.Host) {
			return errForbidden
		}
	}
	if len(origins) > 0 {
		return nil
	}
	for _, ref := range r.Header.Values("Referer") {
		u, err := url.Parse(ref)
		if ref != "" && (err != nil || !strings.EqualFold(u.Host, r.Host)) {
			return errForbidden
		}
	}
	return nil
}

func (g hostGuard) allowedHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		// Brackets hold an IPv6 address, never a name ("[localhost]").
		ip := net.ParseIP(host[1 : len(host)-1])
		return ip != nil && ip.IsLoopback()
	}
	host = strings.TrimSuffix(host, ".")
	if strings.EqualFold(host, "localhost") || strings.EqualFold(host, g.listen) {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// limitListener accepts at most n connections at once (golang.org/x/net's
// netutil.LimitListener, without the dependency).
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func limitConns(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// encodeLog receives the errors of encoding an answer (set by newAPI).
var encodeLog atomic.Pointer[slog.Logger]

// writeJSON answers v as indented JSON with status. A value that does not
// encode is answered 500 and logged, never a 200 with an empty body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		if l := encodeLog.Load(); l != nil {
			l.Error("cannot encode an answer", "status", status, "err", err)
		}
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("{\n  \"detail\": \"internal error\"\n}\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// publicText is an error's text for a client, cut to maxDetail bytes.
func publicText(err error) string {
	s := err.Error()
	if len(s) <= maxDetail {
		return s
	}
	n := maxDetail
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// maxJobsPage is the largest page of GET /jobs.
const maxJobsPage = 500

// archivedJob answers for a finished job the Manager no longer holds, from its
// record; notFound is returned when there is none.
func (a *api) archivedJob(id string, notFound error) (*typhon.Job, error) {
	runID, ok := a.mgr.Archived(id)
	if !ok || runID == "" {
		return nil, notFound
	}
	res, err := a.store.Load(runID)
	if err != nil {
		return nil, notFound
	}
	j := &typhon.Job{ID: id, Status: typhon.StatusDone, Mode: res.Mode, RunID: runID, Result: res,
		SubmittedAt: res.RunAt, StartedAt: &res.RunAt}
	if !res.FinishedAt.IsZero() {
		end := res.FinishedAt
		j.FinishedAt = &end
	}
	if res.Status != schema.StatusComplete {
		j.Status, j.Error = typhon.StatusError, res.Error
	}
	j.Progress = typhon.Progress{Done: len(res.Benchmarks), Total: len(res.Benchmarks)}
	return j, nil
}
