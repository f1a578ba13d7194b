package report

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadFileBounded: a file larger than MaxRecordBytes is refused after MaxRecordBytes+1 bytes, naming the bound,
// instead of being read whole into memory.
func TestLoadFileBounded(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxRecordBytes + 1<<20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	// A file that never ends (/dev/zero) takes the same path; it is not read
	// here, where a regression would fill the memory of the machine.
	for _, name := range []string{big} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			_, err := LoadFile(name)
			if !errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), "larger than") {
				t.Errorf("LoadFile(%s): %v, want ErrInvalidRecord naming the bound", name, err)
			}
		})
	}
}
