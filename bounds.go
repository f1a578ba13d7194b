package typhon

import (
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/typhonbench/typhon/detect"
)

// Bounds on the names a server gives, which go into every record and line of
// output: a model id longer than MaxModelBytes is refused (it cannot be cut: it
// is what each request must name); other names are cut to MaxNameBytes and at
// most MaxSettings settings are kept.
const (
	MaxModelBytes = 512
	MaxNameBytes  = 256
	MaxSettings   = 64
)

// checkModel refuses a model id no record should hold.
func checkModel(model string) error {
	if len(model) > MaxModelBytes {
		return fmt.Errorf("typhon: the server's model id is %d bytes long, more than the %d allowed: %q…",
			len(model), MaxModelBytes, cut(model, 64))
	}
	if !utf8.ValidString(model) {
		return fmt.Errorf("typhon: the server's model id is not valid UTF-8: %q", cut(model, 64))
	}
	return nil
}

// boundServer cuts the names of a detected server to MaxNameBytes.
func boundServer(s detect.Server) detect.Server {
	s.Name = cut(s.Name, MaxNameBytes)
	s.Kind = cut(s.Kind, MaxNameBytes)
	s.Version = cut(s.Version, MaxNameBytes)
	s.Quantization = cut(s.Quantization, MaxNameBytes)
	if len(s.Settings) > 0 {
		settings := make(map[string]string, min(len(s.Settings), MaxSettings))
		for _, k := range slices.Sorted(maps.Keys(s.Settings)) {
			if len(settings) == MaxSettings {
				break
			}
			settings[cut(k, MaxNameBytes)] = cut(s.Settings[k], MaxNameBytes)
		}
		s.Settings = settings
	}
	return s
}

// cut shortens s to at most n bytes at a rune boundary, marking the cut with "…".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
