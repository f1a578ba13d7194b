package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/report"
)

// Environment a worker reads when its flags are not given: the index a
// Kubernetes Indexed Job gives each pod, and the worker count, shared clock,
// run name, collector and token the manifests set.
const (
	envJobIndex    = "JOB_COMPLETION_INDEX"
	envWorkers     = "TYPHON_WORKERS"
	envStartAt     = "TYPHON_START_AT"
	envRun         = "TYPHON_RUN"
	envUpload      = "TYPHON_UPLOAD"
	envUploadToken = "TYPHON_UPLOAD_TOKEN"
)

// workerFlags are run's flags of a worker of a distributed load.
type workerFlags struct {
	worker, startAt, run, upload *string
}

// addWorkerFlags defines the worker flags on fs and wraps readLoad (the load
// flags' reader): the load options it returns carry the worker of -worker (or
// of the Indexed Job's environment).
func addWorkerFlags(fs *flag.FlagSet, readLoad func(mode string) (engine.LoadOptions, error)) (func(mode string) (engine.LoadOptions, error), *workerFlags) {
	w := &workerFlags{
		worker: fs.String("worker", "", "INDEX/COUNT: run this worker's share of the load (default: $"+envJobIndex+"/$"+envWorkers+" when both are set)"),
		startAt: fs.String("start-at", os.Getenv(envStartAt),
			"RFC 3339 time when the first level starts on every worker: the shared clock (default $"+envStartAt+")"),
		run:    fs.String("run-name", os.Getenv(envRun), "name of the distributed run (default $"+envRun+", else fleet-<start-at>)"),
		upload: fs.String("upload", os.Getenv(envUpload), "collector base URL: POST the record to URL/results, token $"+envUploadToken+" (default $"+envUpload+")"),
	}
	return func(mode string) (engine.LoadOptions, error) {
		o, err := readLoad(mode)
		if err != nil {
			return o, err
		}
		o.Worker, err = w.loadWorker(mode)
		return o, err
	}, w
}

// loadWorker is the worker -worker (or the Indexed Job's environment) names, nil
// when none. It is an error to give -start-at or -run-name without a worker.
func (w *workerFlags) loadWorker(mode string) (*engine.LoadWorker, error) {
	spec := *w.worker
	if spec == "" {
		idx, n := os.Getenv(envJobIndex), os.Getenv(envWorkers)
		switch {
		case idx != "" && n != "":
			spec = idx + "/" + n
		case idx != "" || n != "":
			// One without the other would run the whole load on every pod.
			return nil, fmt.Errorf("$%s=%q and $%s=%q: a worker needs both (or -worker INDEX/COUNT)", envJobIndex, idx, envWorkers, n)
		}
	}
	if spec == "" {
		if *w.startAt != "" || *w.run != "" {
			return nil, fmt.Errorf("-start-at and -run-name need -worker INDEX/COUNT (or $%s and $%s)", envJobIndex, envWorkers)
		}
		return nil, nil
	}
	index, count, err := engine.ParseWorker(spec)
	if err != nil {
		return nil, err
	}
	if *w.run != "" && !report.ValidRunID(*w.run) {
		return nil, fmt.Errorf("bad -run-name %q: letters, digits and - _ . (not first), at most 128 bytes: it names the merged record", *w.run)
	}
	lw := &engine.LoadWorker{Run: *w.run, Index: index, Count: count}
	if *w.startAt != "" {
		if lw.StartAt, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(*w.startAt)); err != nil {
			return nil, fmt.Errorf("bad -start-at %q: want RFC 3339, e.g. 2026-01-02T15:04:05Z", *w.startAt)
		}
	}
	if typhon.Mode(mode) != typhon.ModeLoad {
		return nil, fmt.Errorf("-worker needs -mode %s", typhon.ModeLoad)
	}
	return lw, nil
}

// uploadAfter uploads the record of a run that ended with runErr (see
// uploadRecord) and returns runErr, else the upload's error; an upload error
// after a failed run is printed.
func (w *workerFlags) uploadAfter(ctx context.Context, res *typhon.Result, runErr error, stderr io.Writer) error {
	err := uploadRecord(ctx, *w.upload, res, stderr)
	switch {
	case runErr != nil && err != nil:
		fmt.Fprintln(stderr, "typhon:", err)
	case runErr == nil:
		return err
	}
	return runErr
}
