package main

import (
	"context"
	"errors"

	"github.com/typhonbench/typhon"
)

// The job contract's texts (spec/jobs.md).
const (
	// noServerMessage is the error of a job that found no LLM server.
	noServerMessage = "No LLM server detected or benchmark produced no results."
	// cancelledMessage is the error of a cancelled job.
	cancelledMessage = "cancelled"
)

// jobOutcome is the one place a run's outcome becomes a job's state and message
// of the contract: done when the run completed (also when Cancel came after the
// last test), else error with the contract's text for a cancel or a missing
// server, "job timeout: ..." when the job ran out of time, and the error's own
// text otherwise. newAPI sets it as the Manager's Outcome.
func jobOutcome(err error, cancelled bool) (typhon.Status, string) {
	switch {
	case err == nil:
		return typhon.StatusDone, ""
	case cancelled:
		return typhon.StatusError, cancelledMessage
	case errors.Is(err, typhon.ErrNoServer):
		return typhon.StatusError, noServerMessage
	case errors.Is(err, context.DeadlineExceeded):
		return typhon.StatusError, "job timeout: " + err.Error()
	case errors.Is(err, context.Canceled):
		// The server shut down under the job.
		return typhon.StatusError, cancelledMessage
	}
	return typhon.StatusError, err.Error()
}
