package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"

	"github.com/typhonbench/typhon/report"
)

// dashboardCSP is the Content-Security-Policy of a dashboard: the page runs no
// script and loads nothing.
const dashboardCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// getReport answers the compact summary of the last finished run (report.Brief),
// 404 when there is none.
func (a *api) getReport(w http.ResponseWriter, r *http.Request) {
	res, err := report.LoadFile(filepath.Join(a.store.Dir, report.LastRunFile))
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, r, a.logger, fmt.Errorf("%w: no run yet: run a benchmark first (POST /jobs/run)", errNotFound))
		return
	}
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, report.NewBrief(res))
}

// getDashboard answers the HTML dashboard of a record.
func (a *api) getDashboard(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("run_id")
	res, err := a.store.Load(id)
	if err != nil {
		writeError(w, r, a.logger, named("Record", id, err))
		return
	}
	var buf bytes.Buffer
	if err := report.Dashboard(&buf, res); err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
