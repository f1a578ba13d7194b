package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// buildBinary builds this command into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, serr := os.Stat(goTool); serr != nil {
			t.Skipf("no go command to build the binary with: %v", err)
		}
	}
	bin := filepath.Join(t.TempDir(), "typhon")
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryExitCodes runs the built command as a process and checks the exit
// status a shell or a CI step sees.
func TestBinaryExitCodes(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	f := newCompareFiles(t)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "compare: no regression", args: []string{"compare", f.base, f.same}, wantCode: 0, wantStdout: "verdict: unchanged"},
		{name: "compare: improvement", args: []string{"compare", f.base, f.faster}, wantCode: 0, wantStdout: "verdict: improved"},
		{name: "compare: regression", args: []string{"compare", f.base, f.slower, "-tolerance", "5%"}, wantCode: 1,
			wantStdout: "verdict: regressed (1: baseline_short tps)"},
		{name: "compare: regression as JSON", args: []string{"compare", "-json", f.base, f.slower}, wantCode: 1, wantStdout: `"verdict": "regressed"`},
		{name: "compare: inside the tolerance", args: []string{"compare", f.base, f.slower, "-tolerance", "15%"}, wantCode: 0},
		{name: "compare: not comparable", args: []string{"compare", f.base, f.otherModel}, wantCode: 1,
			wantStderr: "typhon: the records are not comparable: different model"},
		{name: "compare: missing file", args: []string{"compare", f.base, f.missing}, wantCode: 1,
			wantStderr: "no such file or directory"},
		{name: "compare: not a record", args: []string{"compare", f.notRecord, f.base}, wantCode: 1, wantStderr: "not a Typhon result"},
		{name: "compare: one file", args: []string{"compare", f.base}, wantCode: 2, wantStderr: "want two record files"},
		{name: "compare: bad tolerance", args: []string{"compare", f.base, f.same, "-tolerance", "x"}, wantCode: 2, wantStderr: "bad tolerance"},
		{name: "compare: unknown flag", args: []string{"compare", "-z", f.base, f.same}, wantCode: 2, wantStderr: "flag provided but not defined"},
		{name: "compare: help", args: []string{"compare", "-h"}, wantCode: 0, wantStderr: "usage: typhon compare"},
		{name: "no command", args: nil, wantCode: 2, wantStderr: "usage: typhon <command>"},
		{name: "unknown command", args: []string{"bench"}, wantCode: 2, wantStderr: `unknown command "bench"`},
		{name: "summary", args: []string{"summary", f.base}, wantCode: 0, wantStdout: "baseline_short"},
		{name: "summary: missing file", args: []string{"summary", f.missing}, wantCode: 1, wantStderr: "no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), bin, tt.args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			switch {
			case errors.As(err, &exit):
				code = exit.ExitCode()
			case err != nil:
				t.Fatalf("run %s: %v", bin, err)
			}
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr.String())
			}
			if code == 1 && strings.Contains(tt.wantStdout, "regressed") && stderr.Len() > 0 {
				t.Errorf("a regression printed to stderr (the table says it): %q", stderr.String())
			}
		})
	}
}
