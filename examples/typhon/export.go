package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/export"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// cmdExport writes anonymised community data, or checks a file with -check.
func cmdExport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", stderr)
	data := fs.String("data", typhon.DefaultDataDir(), "data directory: its records (when no RUN.json is given) and its salt")
	out := fs.String("o", "-", "output file (- for standard output)")
	check := fs.String("check", "", "validate FILE against the export format instead of exporting")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: typhon export [-data DIR] [-o FILE] [RUN.json ...]\n       typhon export -check FILE\n\n"+
			"Writes anonymised community data (format %s, version %d): figures, server kind and version,\n"+
			"model name, GPU/CPU models, RAM rounded, dates to the day and a salted machine fingerprint;\n"+
			"never host or user names, addresses, URLs, ports, paths, keys or serial numbers.\n\n", export.Format, export.FormatVersion)
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *check != "" {
		if len(pos) > 0 {
			return usageError(stderr, fs, "-check takes no record files")
		}
		return checkExport(*check, stdout)
	}
	results, err := exportRecords(*data, pos)
	if err != nil {
		return err
	}
	salt, err := export.LoadSalt(*data)
	if err != nil {
		return err
	}
	f, err := export.Build(results, salt, time.Now())
	if err != nil {
		return err
	}
	if n := export.Skipped(results); n > 0 {
		fmt.Fprintf(stderr, "typhon: %d of %d records left out: no run date (run_at) a day of years 1-9999 can hold\n", n, len(results))
	}
	if *out == "-" {
		return export.Write(stdout, f)
	}
	return writeFileAtomic(*out, func(w io.Writer) error { return export.Write(w, f) })
}

// exportRecords loads the named record files, or else every finished record of
// the data directory.
func exportRecords(dir string, files []string) ([]*schema.Result, error) {
	var out []*schema.Result
	for _, name := range files {
		res, err := report.LoadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	if len(files) > 0 {
		return out, nil
	}
	store := &report.Store{Dir: dir}
	sums, _, err := store.List(0, 0)
	if err != nil {
		return nil, err
	}
	for _, s := range sums {
		if s.Status == schema.StatusRunning {
			continue // still being written
		}
		res, err := store.Load(s.RunID)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no finished record in %s (run 'typhon run' first, or name RUN.json files)", filepath.Join(dir, report.RunsDir))
	}
	return out, nil
}

func checkExport(name string, stdout io.Writer) error {
	fh, err := os.Open(name)
	if err != nil {
		return err
	}
	defer fh.Close()
	f, err := export.Check(fh)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Fprintf(stdout, "%s: valid %s export, format_version %d, %d runs\n", name, f.Format, f.FormatVersion, len(f.Runs))
	return nil
}

// writeFileAtomic writes a file through a temporary file in the same directory.
func writeFileAtomic(name string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
