package testbed

import (
	"context"
	"errors"
	"os"

	"github.com/typhonbench/typhon/schema"
)

// TB is the part of testing.TB these helpers use; *testing.T, *testing.B and
// any testing.TB have it. Package testing is not imported here, so a binary that
// uses Start does not link it.
type TB interface {
	Helper()
	Context() context.Context
	Cleanup(func())
	Failed() bool
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// LlamaServer starts llama-server for a test and stops it at the test's cleanup.
// See Require for what happens when the test bed is missing.
func LlamaServer(t TB, opts Options) *Server {
	t.Helper()
	return startForTest(t, KindLlama, opts)
}

// Ollama starts Ollama for a test, with the model created and loaded, and stops it
// at the test's cleanup. See Require for what happens when the test bed is missing.
func Ollama(t TB, opts Options) *Server {
	t.Helper()
	return startForTest(t, KindOllama, opts)
}

// Required reports whether TYPHON_REQUIRE_SERVERS=1: then a missing test bed fails
// the test (t.Fatal) instead of skipping it.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// logTail is how much of the server log a failed test prints.
const logTail = 16 << 10

func startForTest(t TB, kind schema.Kind, opts Options) *Server {
	t.Helper()
	s, err := Start(t.Context(), kind, opts)
	if errors.Is(err, ErrNotProvisioned) {
		if Required() {
			t.Fatalf("%v (%s=1)", err, EnvRequire)
		}
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log (%s):\n%s", kind, s.URL, tail(s.Log(), logTail))
		}
		if err := s.Close(); err != nil {
			t.Errorf("testbed: %v", err)
		}
	})
	return s
}
