package main

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/advice"
	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/report"
)

// maxBodyBytes caps every request body; the API takes its parameters in the
// query, so a body is read and thrown away, up to this size.
const maxBodyBytes = 64 << 10

// openAPI describes the endpoints; TestOpenAPIMatchesRoutes checks it against the
// route table.
//
//go:embed openapi.json
var openAPI []byte

// Errors of the API itself; writeError maps them with the library's.
var (
	errBadRequest   = errors.New("bad request")
	errUnauthorized = errors.New("missing or wrong bearer token")
	errNotFound     = errors.New("not found")
)

// route is one path of the API with a handler per method; the OpenAPI document
// is checked against this table.
type route struct {
	pattern string
	methods map[string]http.HandlerFunc
	public  bool // served without a token
}

type api struct {
	mgr    *typhon.Manager
	store  *report.Store
	token  string
	guard  hostGuard
	logger *slog.Logger
	routes []route
	public map[string]bool // paths served without a token
	mux    *http.ServeMux
	askCfg askConfig
	asks   atomic.Int32 // GET /ask in progress (askMaxInFlight at most)
}

// newAPI serves mgr's jobs and records; a nil mgr.Outcome becomes the
// contract's jobOutcome.
func newAPI(mgr *typhon.Manager, token string, logger *slog.Logger) *api {
	if mgr.Outcome == nil {
		mgr.Outcome = jobOutcome
	}
	a := &api{
		mgr:    mgr,
		store:  mgr.Store(),
		token:  token,
		guard:  hostGuard{token: token},
		logger: logger,
		mux:    http.NewServeMux(),
	}
	encodeLog.Store(logger)
	a.routes = []route{
		{pattern: "/health", methods: map[string]http.HandlerFunc{"GET": a.health}, public: true},
		{pattern: "/openapi.json", methods: map[string]http.HandlerFunc{"GET": a.openAPI}},
		{pattern: "/scan", methods: map[string]http.HandlerFunc{"POST": a.scan}},
		{pattern: "/jobs/run", methods: map[string]http.HandlerFunc{"POST": a.submit}},
		{pattern: "/jobs", methods: map[string]http.HandlerFunc{"GET": a.listJobs}},
		{pattern: "/jobs/{id}", methods: map[string]http.HandlerFunc{"GET": a.getJob, "DELETE": a.cancelJob}},
		{pattern: "/results", methods: map[string]http.HandlerFunc{"GET": a.listResults, "POST": a.uploadResult}},
		{pattern: "/results/{run_id}", methods: map[string]http.HandlerFunc{"GET": a.getResult}},
		{pattern: "/results/{run_id}/dashboard", methods: map[string]http.HandlerFunc{"GET": a.getDashboard}},
		{pattern: "/report", methods: map[string]http.HandlerFunc{"GET": a.getReport}},
		{pattern: "/ask", methods: map[string]http.HandlerFunc{"GET": a.ask}},
	}
	a.public = map[string]bool{}
	for _, rt := range a.routes {
		a.mux.Handle(rt.pattern, a.dispatch(rt))
		if rt.public {
			a.public[rt.pattern] = true
		}
	}
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, a.logger, fmt.Errorf("%w: %s", errNotFound, r.URL.Path))
	})
	return a
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(detect.TyphonHeader, typhon.Version)
	limit := int64(maxBodyBytes)
	if isUpload(r) {
		limit = maxUploadBytes
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	// Who may ask comes before what is asked: a foreign Host or Origin, then
	// the token, are checked before any route is looked up.
	if err := a.guard.check(r); err != nil {
		writeError(w, r, a.logger, fmt.Errorf("%w: the Host or Origin of the request is not this server's", err))
		return
	}
	if !a.public[r.URL.Path] && !a.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="typhon"`)
		writeError(w, r, a.logger, errUnauthorized)
		return
	}
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		// r.URL.Query drops what it cannot parse ("limit=1;offset=2", "%zz").
		writeError(w, r, a.logger, fmt.Errorf("%w: bad query: %v", errBadRequest, err))
		return
	}
	if p := r.URL.Path; p != "/" && path.Clean(p) != p {
		// ServeMux would answer a redirect in HTML; no route has such a path.
		writeError(w, r, a.logger, fmt.Errorf("%w: %s", errNotFound, p))
		return
	}
	a.mux.ServeHTTP(w, r)
}

// dispatch checks the method, the token and the body's size, then calls the
// route's handler.
func (a *api) dispatch(rt route) http.Handler {
	allowed := make([]string, 0, len(rt.methods))
	for m := range rt.methods {
		allowed = append(allowed, m)
	}
	sort.Strings(allowed)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := rt.methods[r.Method]
		if !ok {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, detail(fmt.Sprintf("method %s not allowed on %s", r.Method, rt.pattern)))
			return
		}
		if isUpload(r) {
			if r.ContentLength > maxUploadBytes {
				writeError(w, r, a.logger, &http.MaxBytesError{Limit: maxUploadBytes})
				return
			}
		} else if err := drainBody(r); err != nil {
			writeError(w, r, a.logger, err)
			return
		}
		h(w, r)
	})
}

func (a *api) authorized(r *http.Request) bool {
	if a.token == "" {
		return true
	}
	// The scheme is case-insensitive (RFC 9110); the token is compared in
	// constant time.
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return ok && strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) == 1
}

// drainBody reads the request body (no endpoint takes one) so that a body over
// maxBodyBytes is refused with 413 whether or not it announced its length.
func drainBody(r *http.Request) error {
	if r.ContentLength > maxBodyBytes {
		return &http.MaxBytesError{Limit: maxBodyBytes}
	}
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fmt.Errorf("%w: cannot read the request body", errBadRequest)
	}
	return nil
}

func (a *api) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPI)
}

func (a *api) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "timestamp": time.Now().UTC().Format(time.RFC3339)})
}

func (a *api) scan(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	opts := a.mgr.Runner.Detect
	skipped := []detect.Skip{}
	opts.Skipped = func(s detect.Skip) { skipped = append(skipped, s) }
	servers, err := detect.Scan(ctx, opts)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	if servers == nil {
		servers = []detect.Server{}
	}
	prof := typhon.Hardware(ctx)
	writeJSON(w, http.StatusOK, map[string]any{"servers": servers, "skipped": skipped, "profile": prof})
}

func (a *api) submit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if len(q["mode"]) > 1 {
		writeError(w, r, a.logger, fmt.Errorf("%w: mode given %d times", errBadRequest, len(q["mode"])))
		return
	}
	mode := typhon.Mode(q.Get("mode"))
	if mode == "" && !q.Has("mode") {
		mode = typhon.DefaultMode
	}
	if mode == "" {
		writeError(w, r, a.logger, fmt.Errorf("%w: empty mode", typhon.ErrInvalidMode))
		return
	}
	o, err := loadOptions(q, string(mode))
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	var job *typhon.Job
	if mode == typhon.ModeLoad {
		job, err = a.mgr.SubmitLoad(o)
	} else {
		job, err = a.mgr.Submit(mode)
	}
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	w.Header().Set("Location", "/jobs/"+job.ID)
	writeJSON(w, http.StatusAccepted, map[string]any{"job_id": job.ID, "status": job.Status, "mode": job.Mode})
}

// listJobs answers the jobs held in memory, in submission order, a page at a
// time (offset, limit); X-Total-Count says how many there are.
func (a *api) listJobs(w http.ResponseWriter, r *http.Request) {
	offset, err := intParam(r, "offset", 0, 0, 1<<30)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	limit, err := intParam(r, "limit", maxJobsPage, 1, maxJobsPage)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	jobs, total := a.mgr.Page(offset, limit)
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	writeJSON(w, http.StatusOK, jobs)
}

func (a *api) getJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	job, err := a.mgr.Get(id)
	if errors.Is(err, typhon.ErrJobNotFound) {
		job, err = a.archivedJob(id, err)
	}
	if err != nil {
		err = named("Job", id, err)
		writeError(w, r, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, job)
}

func (a *api) cancelJob(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	job, err := a.mgr.Cancel(id)
	if err != nil {
		err = named("Job", id, err)
		writeError(w, r, a.logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, job)
}

func (a *api) listResults(w http.ResponseWriter, r *http.Request) {
	offset, err := intParam(r, "offset", 0, 0, 1<<30)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	limit, err := intParam(r, "limit", 20, 1, 500)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	page, err := a.store.ListPage(offset, limit)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *api) getResult(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("run_id")
	res, err := a.store.Load(id)
	if err != nil {
		err = named("Record", id, err)
		writeError(w, r, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func intParam(r *http.Request, name string, def, min, max int) (int, error) {
	q := r.URL.Query()
	if len(q[name]) > 1 {
		return 0, fmt.Errorf("%w: %s given %d times", errBadRequest, name, len(q[name]))
	}
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("%w: %s must be an integer from %d to %d, got %q", errBadRequest, name, min, max, s)
	}
	return n, nil
}

// statusOf is the one table from errors to HTTP status codes.
var statusOf = []struct {
	err    error
	status int
}{
	{typhon.ErrInvalidMode, http.StatusBadRequest},
	{typhon.ErrInvalidLoad, http.StatusBadRequest},
	{errBadRequest, http.StatusBadRequest},
	{errUnauthorized, http.StatusUnauthorized},
	{errForbidden, http.StatusForbidden},
	{typhon.ErrJobNotFound, http.StatusNotFound},
	{report.ErrNotFound, http.StatusNotFound},
	{errNotFound, http.StatusNotFound},
	{typhon.ErrJobFinished, http.StatusConflict},
	{typhon.ErrQueueFull, http.StatusTooManyRequests},
	{errAskBusy, http.StatusTooManyRequests},
	{advice.ErrServer, http.StatusBadGateway},
	{advice.ErrNoTarget, http.StatusBadGateway},
	{errConflict, http.StatusConflict},
	{errNoSpace, http.StatusInsufficientStorage},
}

// writeError answers {"detail": "..."} with the status of the error's kind. An
// error of no known kind is a 500 whose text stays in the log, not the answer.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeJSON(w, http.StatusRequestEntityTooLarge, detail(fmt.Sprintf("request body larger than %d bytes", tooBig.Limit)))
		return
	}
	for _, e := range statusOf {
		if errors.Is(err, e.err) {
			writeJSON(w, e.status, detail(publicText(err)))
			return
		}
	}
	logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, detail("internal error"))
}

// notFoundError words a missing job or record as the job contract does:
// "Job '<id>' not found.".
type notFoundError struct {
	what, id string
	err      error
}

func (e *notFoundError) Error() string {
	id := e.id
	if len(id) > 64 {
		id = id[:64] + "..."
	}
	return fmt.Sprintf("%s '%s' not found.", e.what, id)
}

func (e *notFoundError) Unwrap() error { return e.err }

// named gives a not-found error the contract's wording; other errors pass.
func named(what, id string, err error) error {
	if errors.Is(err, typhon.ErrJobNotFound) || errors.Is(err, report.ErrNotFound) {
		return &notFoundError{what: what, id: id, err: err}
	}
	return err
}

func detail(msg string) map[string]string { return map[string]string{"detail": msg} }
