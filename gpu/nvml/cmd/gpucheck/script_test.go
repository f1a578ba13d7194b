//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/internal/testbed"
)

// buildTools builds gpucheck and the typhon CLI without cgo (no NVML: the
// parts of gpu-check.sh that need no GPU) into a temporary directory.
func buildTools(t *testing.T) (gpucheck, typhon string) {
	t.Helper()
	dir := t.TempDir()
	gpucheck, typhon = filepath.Join(dir, "gpucheck"), filepath.Join(dir, "typhon")
	for _, b := range [][2]string{{gpucheck, "."}, {typhon, "../../../../examples/typhon"}} {
		cmd := exec.Command("go", "build", "-o", b[0], b[1])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	return gpucheck, typhon
}

// TestGPUCheckScriptWithoutGPU runs scripts/gpu-check.sh here, without a GPU:
// "run" says there is none (exit 2); "job" runs a real quick job against the
// test bed's llama-server with a stand-in nvidia-smi logging beside it, and
// prints the per-test table from the record and that log, then exit 2 because
// the record has no GPU figures.
func TestGPUCheckScriptWithoutGPU(t *testing.T) {
	gpucheck, typhon := buildTools(t)
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	work := t.TempDir()
	smi := filepath.Join(t.TempDir(), "nvidia-smi")
	script := "#!/bin/sh\nwhile :; do printf '%s, 0, 4000, 650.00, 100\\n' \"$(date -u '+%Y/%m/%d %H:%M:%S.%3N')\"; sleep 0.1; done\n"
	if err := os.WriteFile(smi, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what string
		want []string
	}{
		{"run", []string{"gpucheck: no GPU", "no GPU here; nothing was checked"}},
		{"job", []string{"test", "J/token typhon/smi", "baseline_short", "no GPU figure", "the record says", "no GPU here; nothing was checked"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			cmd := exec.Command("bash", "../../../../scripts/gpu-check.sh", tc.what)
			cmd.Env = append(os.Environ(), "NO_BUILD=1", "GPUCHECK_BIN="+gpucheck, "TYPHON_BIN="+typhon,
				"TYPHON_URL="+srv.URL, "NVIDIA_SMI="+smi, "WORK="+work, "LOAD_SECONDS=1", "PYTHON=false")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Errorf("gpu-check.sh %s: %v, want exit status 2 (no GPU)\n%s", tc.what, err, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("gpu-check.sh %s output lacks %q:\n%s", tc.what, w, out.String())
				}
			}
			t.Logf("gpu-check.sh %s:\n%s", tc.what, out.String())
		})
	}
	if smiLog, err := os.ReadFile(filepath.Join(work, "smi.csv")); err != nil || len(parseSMI(bytes.NewReader(smiLog))) == 0 {
		t.Errorf("the job's nvidia-smi log holds no reading (%v)", err)
	}
}
