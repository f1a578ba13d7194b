package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/typhonbench/typhon/schema"
)

// fakeTB records how startForTest ended a test.
type fakeTB struct {
	testing.TB
	skipped, failed string
	cleanups        int
}

func (f *fakeTB) Helper()                  {}
func (f *fakeTB) Context() context.Context { return context.Background() }
func (f *fakeTB) Cleanup(func())           { f.cleanups++ }
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestMissingTestBed checks that a test skips when the test bed is missing, and
// fails instead under TYPHON_REQUIRE_SERVERS=1. Not parallel: it sets the variable.
func TestMissingTestBed(t *testing.T) {
	tests := []struct {
		name               string
		require            string
		kind               schema.Kind
		wantSkip, wantFail bool
	}{
		{"llama-server skips", "", KindLlama, true, false},
		{"ollama skips", "0", KindOllama, true, false},
		{"llama-server required", "1", KindLlama, false, true},
		{"ollama required", "1", KindOllama, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvRequire, tc.require)
			ft := &fakeTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				startForTest(ft, tc.kind, Options{Dir: t.TempDir()})
			}()
			<-done
			if got := ft.skipped != ""; got != tc.wantSkip {
				t.Errorf("skipped = %v (%q), want %v", got, ft.skipped, tc.wantSkip)
			}
			if got := ft.failed != ""; got != tc.wantFail {
				t.Errorf("failed = %v (%q), want %v", got, ft.failed, tc.wantFail)
			}
			if msg := ft.skipped + ft.failed; !strings.Contains(msg, "scripts/testbed.sh") {
				t.Errorf("message %q does not name scripts/testbed.sh", msg)
			}
			if ft.cleanups != 0 {
				t.Errorf("%d cleanups registered for a server that never started", ft.cleanups)
			}
		})
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	tests := []struct {
		name     string
		kind     schema.Kind
		opts     Options
		wantProv bool   // wraps ErrNotProvisioned
		want     string // in the message
	}{
		{"unknown kind", "vllm", Options{Dir: empty}, false, "unknown server kind"},
		{"empty cache", KindOllama, Options{Dir: empty}, true, filepath.Join(empty, "ollama")},
		{"model missing", KindOllama, Options{ModelPath: filepath.Join(empty, "none.gguf")}, false, "none.gguf"},
		{"model is a directory", KindLlama, Options{ModelPath: empty}, false, "not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !tc.wantProv && tc.opts.Dir == "" {
				if err := Locate("").check(tc.kind, "x"); err != nil {
					t.Skip(err)
				}
			}
			s, err := Start(t.Context(), tc.kind, tc.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Start succeeded, want an error")
			}
			if got := errors.Is(err, ErrNotProvisioned); got != tc.wantProv {
				t.Errorf("errors.Is(%v, ErrNotProvisioned) = %v, want %v", err, got, tc.wantProv)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestLocate(t *testing.T) {
	t.Setenv(EnvDir, "/srv/tb")
	want := Paths{
		Dir:         "/srv/tb",
		LlamaRoot:   "/srv/tb/llama-root",
		LlamaServer: "/srv/tb/llama-root/usr/bin/llama-server",
		Ollama:      "/srv/tb/ollama/bin/ollama",
		Model:       "/srv/tb/model/tiny.gguf",
	}
	if diff := cmp.Diff(want, Locate("")); diff != "" {
		t.Errorf("Locate(\"\") with %s set (-want +got):\n%s", EnvDir, diff)
	}
	if got := Locate("/x").Model; got != "/x/model/tiny.gguf" {
		t.Errorf("Locate(\"/x\").Model = %q", got)
	}
	t.Setenv(EnvDir, "")
	home, _ := os.UserHomeDir()
	if got, want := DefaultDir(), filepath.Join(home, ".cache", "typhon-testbed"); got != want {
		t.Errorf("DefaultDir() = %q, want %q", got, want)
	}
}

func TestTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		log  string
		n    int
		want string
	}{
		{"short", "a\nb\n", 100, "a\nb\n"},
		{"cut at a line", "first line\nsecond\nthird\n", 10, "[...]\nthird\n"},
		{"routes dropped", "[GIN-debug] GET / --> x\nlistening\n[GIN-debug] POST /y\n", 100, "listening\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tail(tc.log, tc.n); got != tc.want {
				t.Errorf("tail(%q, %d) = %q, want %q", tc.log, tc.n, got, tc.want)
			}
		})
	}
}

func TestWithoutOllamaEnv(t *testing.T) {
	t.Parallel()
	in := []string{"PATH=/bin", "OLLAMA_HOST=0.0.0.0:1", "HOME=/root", "OLLAMA_MODELS=/m"}
	want := []string{"PATH=/bin", "HOME=/root"}
	if diff := cmp.Diff(want, withoutOllamaEnv(in)); diff != "" {
		t.Errorf("withoutOllamaEnv (-want +got):\n%s", diff)
	}
	if in[1] != "OLLAMA_HOST=0.0.0.0:1" {
		t.Errorf("withoutOllamaEnv changed its input: %q", in)
	}
}
