package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"

	"github.com/typhonbench/typhon/report"
)

// maxUploadBytes caps the body of POST /results: one worker's record, its
// per-request columns and histograms included.
const maxUploadBytes = 32 << 20

var (
	// errConflict: an upload under a run id that holds another record.
	errConflict = errors.New("conflict")
	// errNoSpace: an upload the data directory's disk cannot take (507).
	errNoSpace = errors.New("insufficient storage")
)

// uploadMu makes the check for an earlier upload and the write one step, so
// that two uploads of one record store it once.
var uploadMu sync.Mutex

// isUpload reports whether r is an upload (POST /results): its body is read,
// up to maxUploadBytes, instead of being drained.
func isUpload(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Path == "/results"
}

// uploadResult stores a record a worker uploads (POST /results) in the data
// directory, where typhon merge and GET /results find it. The server must have
// a token. The record is validated strictly (report.DecodeStrict): 400 when it
// does not fit the schema or its figures do not hold together, 413 over
// maxUploadBytes. Uploads are idempotent by run id and worker index: the same
// record again answers 200 and changes nothing, another record under that run
// id, or another record of a worker of a run already stored, 409; a new record
// answers 201.
func (a *api) uploadResult(w http.ResponseWriter, r *http.Request) {
	if a.token == "" {
		writeError(w, r, a.logger, fmt.Errorf("%w: uploads need the server to require a token (-token or TYPHON_TOKEN)", errUnauthorized))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	res, err := report.DecodeStrict(body)
	if err != nil {
		writeError(w, r, a.logger, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	var canon bytes.Buffer
	if err := report.WriteJSON(&canon, res); err != nil {
		writeError(w, r, a.logger, err)
		return
	}
	uploadMu.Lock()
	defer uploadMu.Unlock()
	old, err := a.store.Load(res.RunID)
	switch {
	case err == nil:
		var prev bytes.Buffer
		if werr := report.WriteJSON(&prev, old); werr != nil || !bytes.Equal(prev.Bytes(), canon.Bytes()) {
			writeError(w, r, a.logger, fmt.Errorf("%w: run %q already holds another record", errConflict, res.RunID))
			return
		}
		writeJSON(w, http.StatusOK, uploadAnswer(res.RunID, "already stored"))
		return
	case !errors.Is(err, report.ErrNotFound):
		writeError(w, r, a.logger, err)
		return
	}
	if wk := res.Worker; wk != nil {
		id, err := a.store.WorkerRecordID(wk.Run, wk.Index)
		switch {
		case err != nil:
			writeError(w, r, a.logger, err)
			return
		case id != "":
			writeError(w, r, a.logger, fmt.Errorf("%w: worker %d of run %q is already stored as record %q", errConflict, wk.Index, wk.Run, id))
			return
		}
	}
	if err := a.store.Keep(res); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			a.logger.Warn("upload not stored: disk full", "run_id", res.RunID, "err", err)
			err = fmt.Errorf("%w: the collector's disk is full: nothing was stored, send the record again later", errNoSpace)
		}
		writeError(w, r, a.logger, err)
		return
	}
	a.logger.Info("record uploaded", "run_id", res.RunID, "bytes", len(body))
	writeJSON(w, http.StatusCreated, uploadAnswer(res.RunID, "stored"))
}

func uploadAnswer(runID, status string) map[string]string {
	return map[string]string{"run_id": runID, "status": status}
}
