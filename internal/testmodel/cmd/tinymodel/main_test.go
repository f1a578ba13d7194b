package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/internal/testmodel"
)

func TestRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" for success
	}{
		{"small model", []string{"-o", filepath.Join(dir, "a.gguf"), "-embd", "32", "-layers", "1", "-heads", "2", "-ff", "32", "-words", "40"}, ""},
		{"no output", []string{"-embd", "32"}, "usage"},
		{"stray argument", []string{"-o", filepath.Join(dir, "b.gguf"), "extra"}, "usage"},
		{"bad size", []string{"-o", filepath.Join(dir, "c.gguf"), "-embd", "30", "-heads", "4"}, "multiple of heads"},
		{"unknown flag", []string{"-o", filepath.Join(dir, "d.gguf"), "-size", "3"}, "not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := run(tc.args, &stdout, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("run(%q) = %v, want an error containing %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("run(%q): %v (stderr %s)", tc.args, err, stderr.String())
			}
			f, err := testmodel.ReadFile(tc.args[1])
			if err != nil {
				t.Fatalf("the written model does not read back: %v", err)
			}
			if v, _ := f.Lookup("llama.embedding_length"); v != uint32(32) {
				t.Errorf("llama.embedding_length = %v, want 32", v)
			}
			if !strings.HasPrefix(stdout.String(), "wrote ") {
				t.Errorf("stdout = %q, want a line saying what was written", stdout.String())
			}
		})
	}
}
