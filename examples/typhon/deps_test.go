package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestBinariesDoNotLinkTesting: neither binary links package testing (a helper of
// the test bed once pulled it in).
func TestBinariesDoNotLinkTesting(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, serr := os.Stat(goTool); serr != nil {
			t.Skipf("no go command to list dependencies with: %v", err)
		}
	}
	cmd := exec.CommandContext(t.Context(), goTool, "list", "-deps", ".", "../httpserver")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps listed nothing")
	}
	if slices.Contains(deps, "testing") {
		t.Errorf("the binaries link package testing; go list -deps lists %d packages", len(deps))
	}
}
