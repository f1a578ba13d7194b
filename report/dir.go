package report

import (
	"os"
	"path/filepath"
)

// DefaultDir is the Dir of a Store when the user names none: $TYPHON_DATA, else
// $XDG_DATA_HOME/typhon, else ~/.local/share/typhon (the temp directory's typhon
// when there is no home).
func DefaultDir() string {
	if d := os.Getenv("TYPHON_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "typhon")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "typhon")
	}
	return filepath.Join(os.TempDir(), "typhon")
}
