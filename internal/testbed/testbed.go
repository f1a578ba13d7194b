// Package testbed starts real inference servers (llama.cpp's llama-server and
// Ollama) on a free loopback port, serving the tiny generated model of package
// testmodel, for integration tests and demos.
//
// The binaries and the model are provisioned by scripts/testbed.sh into a cache
// directory: $TYPHON_TESTBED_DIR, or $HOME/.cache/typhon-testbed. llama-server comes
// from a Debian unstable root and runs through chroot (so it needs root); Ollama is
// built from source.
//
// Tests use [LlamaServer] and [Ollama], which skip when the binaries are missing
// (unless TYPHON_REQUIRE_SERVERS=1) and stop the server at cleanup. Other code uses
// [Start] and [Server.Close].
//
// # What the servers do that a client must know
//
//   - llama-server closes the connection after a streamed response although it
//     answered "Keep-Alive: timeout=5, max=100"; a POST that Go's http.Transport
//     sends on that pooled connection fails at once with EOF. Clients disable
//     keep-alive towards it (or retry on a fresh connection).
//   - With stream_options.include_usage, both servers end the stream with a chunk
//     that has usage and no choices; llama-server puts "timings" in it (without
//     include_usage, in the chunk with finish_reason).
//   - Ollama loads a model on its first request; Start waits for that, so
//     the first timed request does not include the load (Options.NoWarmup to skip).
//   - The tiny model always generates exactly max_tokens tokens, one printable word
//     piece per content chunk (see package testmodel).
package testbed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// Server kinds, as in Server.Kind (schema's names).
const (
	KindLlama  = schema.KindLlamaCpp
	KindOllama = schema.KindOllama
)

// Environment variables read by this package.
const (
	EnvDir     = "TYPHON_TESTBED_DIR"     // cache directory of scripts/testbed.sh
	EnvRequire = "TYPHON_REQUIRE_SERVERS" // "1": a missing server fails the test instead of skipping it
)

// Defaults of a zero Options.
//
// One thread per server: on a loaded two-core machine (tests of several packages
// start servers at once, compilers run beside them) ggml's spinning thread pool
// collapses with two threads. Measured at load average 7: three requests of 64
// tokens took Ollama 0.3-0.4 s with one thread and 6.5-17 s with two; llama-server
// 70-90 ms against 120-270 ms.
const (
	DefaultThreads      = 1
	DefaultCtxSize      = 4096
	DefaultParallel     = 1
	DefaultModelName    = "tiny"
	DefaultStartTimeout = 2 * time.Minute
	DefaultStopGrace    = 10 * time.Second
)

// ErrNotProvisioned is returned when the binaries or the model are not in the cache
// directory, or cannot be run by this user.
var ErrNotProvisioned = errors.New("test bed not provisioned (run: bash scripts/testbed.sh)")

// Paths are where scripts/testbed.sh puts things in a cache directory.
type Paths struct {
	Dir         string // the cache directory
	LlamaRoot   string // Debian root holding /usr/bin/llama-server
	LlamaServer string // llama-server inside LlamaRoot, as a host path
	Ollama      string // the ollama binary
	Model       string // the tiny model
}

// DefaultDir returns the cache directory: $TYPHON_TESTBED_DIR, or
// $HOME/.cache/typhon-testbed.
func DefaultDir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "typhon-testbed")
	}
	return filepath.Join(home, ".cache", "typhon-testbed")
}

// Locate returns the paths in cache directory dir ("" means DefaultDir). It does not
// check that they exist.
func Locate(dir string) Paths {
	if dir == "" {
		dir = DefaultDir()
	}
	root := filepath.Join(dir, "llama-root")
	return Paths{
		Dir:         dir,
		LlamaRoot:   root,
		LlamaServer: filepath.Join(root, "usr", "bin", "llama-server"),
		Ollama:      filepath.Join(dir, "ollama", "bin", "ollama"),
		Model:       filepath.Join(dir, "model", "tiny.gguf"),
	}
}

// check reports whether a server of kind can be started from these paths; the error
// wraps ErrNotProvisioned. A model is needed only when modelPath is empty.
func (p Paths) check(kind schema.Kind, modelPath string) error {
	if !supported {
		return fmt.Errorf("testbed: %w: the test bed needs Linux", ErrNotProvisioned)
	}
	var need []string
	switch kind {
	case KindLlama:
		need = []string{filepath.Join(p.LlamaRoot, ".typhon-ok"), p.LlamaServer}
	case KindOllama:
		need = []string{filepath.Join(filepath.Dir(filepath.Dir(p.Ollama)), ".typhon-ok"), p.Ollama}
	default:
		return fmt.Errorf("testbed: unknown server kind %q (want %q or %q)", kind, KindLlama, KindOllama)
	}
	if modelPath == "" {
		need = append(need, filepath.Join(filepath.Dir(p.Model), ".typhon-ok"), p.Model)
	}
	for _, f := range need {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("testbed: %s: %w: %s is missing", kind, ErrNotProvisioned, f)
		}
	}
	if kind == KindLlama && os.Geteuid() != 0 {
		return fmt.Errorf("testbed: %s: %w: llama-server runs through chroot, which needs root", kind, ErrNotProvisioned)
	}
	return nil
}
