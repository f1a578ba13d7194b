package report

import (
	"path/filepath"
	"testing"
)

// TestDefaultDir is not parallel: it sets environment variables.
func TestDefaultDir(t *testing.T) {
	t.Setenv("TYPHON_DATA", "/data/typhon")
	if got := DefaultDir(); got != "/data/typhon" {
		t.Errorf("DefaultDir() with TYPHON_DATA = %q, want /data/typhon", got)
	}
	t.Setenv("TYPHON_DATA", "")
	t.Setenv("XDG_DATA_HOME", "/xdg")
	if got, want := DefaultDir(), filepath.Join("/xdg", "typhon"); got != want {
		t.Errorf("DefaultDir() with XDG_DATA_HOME = %q, want %q", got, want)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if got, want := DefaultDir(), filepath.Join("/home/u", ".local", "share", "typhon"); got != want {
		t.Errorf("DefaultDir() with HOME = %q, want %q", got, want)
	}
}
