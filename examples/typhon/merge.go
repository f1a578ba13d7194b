package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// cmdMerge merges the records of the workers of a distributed run into one
// fleet result: typhon merge [-o FILE] [-data DIR] FILES...|RUN.
func cmdMerge(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("merge", stderr)
	out := fs.String("o", "", "write the merged record to FILE (default: stdout)")
	data := fs.String("data", typhon.DefaultDataDir(), "directory whose runs/ holds the workers' records (with a run name)")
	save := fs.Bool("save", false, "also save the merged record in the data directory as runs/<run>.json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: typhon merge [-o FILE] [-data DIR] [-save] FILES...|RUN")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError(stderr, fs, "want the workers' record files, or the name of their run")
	}
	recs, err := mergeInputs(pos, *data)
	if err != nil {
		return err
	}
	merged, err := report.Merge(recs)
	if err != nil {
		return err
	}
	if *save {
		if err := saveMerged(&report.Store{Dir: *data}, merged); err != nil {
			return err
		}
	}
	if *out == "" {
		return report.WriteJSON(stdout, merged)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := report.WriteJSON(f, merged); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "merged %d workers of run %s: %s\n", len(merged.Workers), merged.RunID, *out)
	return nil
}

// mergeInputs reads the records named: files, or (one argument that is no
// file) the run whose workers' records are in the data directory.
func mergeInputs(pos []string, data string) ([]*schema.Result, error) {
	if len(pos) == 1 && !strings.HasSuffix(pos[0], ".json") {
		if _, err := os.Stat(pos[0]); err != nil {
			return (&report.Store{Dir: data}).WorkerRecords(pos[0])
		}
	}
	var recs []*schema.Result
	for _, p := range pos {
		r, err := report.LoadFile(p)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// saveMerged saves the merged record under the run's name, unless that name
// holds a record that is not a merge of the run (a run id given as -run-name):
// it would be overwritten.
func saveMerged(store *report.Store, merged *schema.Result) error {
	old, err := store.Load(merged.RunID)
	switch {
	case err == nil && old.Workers == nil:
		return fmt.Errorf("runs/%s.json holds a record that is not a merged run (%s %s): not overwritten; merge with -o instead",
			merged.RunID, old.Mode, old.RunAt.Format("2006-01-02T15:04:05Z07:00"))
	case err != nil && !errors.Is(err, report.ErrNotFound):
		return err
	}
	return store.Finish(merged)
}
