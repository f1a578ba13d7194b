package export

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SaltFile is the name of the installation's salt in the data directory.
const SaltFile = "export-salt"

// saltBytes is the length of a new salt.
const saltBytes = 32

// LoadSalt returns the salt of the data directory dir, creating it (32 random
// bytes, hex, file mode 0600) on first use. Two processes that create it at
// once end up with the same salt: the file is created exclusively and the
// loser reads the winner's.
func LoadSalt(dir string) ([]byte, error) {
	name := filepath.Join(dir, SaltFile)
	if s, err := readSalt(name); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: salt: %w", err)
	}
	raw := make([]byte, saltBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("export: salt: %w", err)
	}
	// Written under a temporary name and linked into place, so that no reader
	// ever sees a half-written salt and an existing one is never replaced.
	tmp, err := os.CreateTemp(dir, SaltFile+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("export: salt: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(hex.EncodeToString(raw) + "\n")
	if err := errors.Join(werr, tmp.Chmod(0o600), tmp.Sync(), tmp.Close()); err != nil {
		return nil, fmt.Errorf("export: salt: %w", err)
	}
	if err := os.Link(tmp.Name(), name); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("export: salt: %w", err)
	}
	return readSalt(name)
}

func readSalt(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("export: salt: %w", err)
	}
	s, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(s) < 16 {
		return nil, fmt.Errorf("export: salt file %s is damaged (want at least 16 bytes in hex); remove it to make a new one", name)
	}
	return s, nil
}
