package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// cmdDashboard writes the HTML dashboard of records: the files named, or the
// last run of the data directory.
func cmdDashboard(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dashboard", stderr)
	out := fs.String("o", "", `output file; "-" is stdout (default: beside a single record, else typhon-dashboard.html)`)
	data := fs.String("data", typhon.DefaultDataDir(), "directory whose last run is shown when no file is named")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: typhon dashboard [-o FILE] [-data DIR] [RUN.json ...]\n\nWrites one self-contained HTML page of the records (default: the last run), charts and findings, several records overlaid.")
		fs.PrintDefaults()
	}
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		files = []string{filepath.Join(*data, report.LastRunFile)}
	}
	var runs []*schema.Result
	for _, f := range files {
		res, err := report.LoadFile(f)
		if err != nil {
			return err
		}
		runs = append(runs, res)
	}
	var buf bytes.Buffer
	if err := report.Dashboard(&buf, runs...); err != nil {
		return err
	}
	path := *out
	switch {
	case path == "-":
		_, err := stdout.Write(buf.Bytes())
		return err
	case path == "" && len(files) == 1:
		path = strings.TrimSuffix(files[0], filepath.Ext(files[0])) + ".html"
	case path == "":
		path = "typhon-dashboard.html"
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dashboard: %s\n", path)
	return nil
}
