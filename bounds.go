package typhon

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/engine"
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
	s.Kind = detect.Kind(cut(string(s.Kind), MaxNameBytes))
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

// MaxUnansweredTests is how many tests in a row a server may leave without any
// answer before the run gives up on the rest.
const MaxUnansweredTests = 2

// serverGone decides after test b whether the server is still worth testing: a
// server that refuses connections and does not come back within ServerBackWait
// ends the run (ErrServerDown), and so does one that left MaxUnansweredTests
// tests in a row without any answer (ErrServerSilent). silent counts those tests.
func (r *Runner) serverGone(ctx context.Context, eng *engine.Engine, b Benchmark, silent *int) error {
	if refused(b) {
		if err := r.waitServer(ctx, eng); err != nil {
			return fmt.Errorf("%w: server at %s stopped accepting connections during %s (connection_refused: crashed or out of memory?)",
				ErrServerDown, eng.Target.BaseURL, b.TestID)
		}
	}
	if !engine.Unanswered(b) {
		*silent = 0
		return nil
	}
	if *silent++; *silent < MaxUnansweredTests {
		return nil
	}
	return fmt.Errorf("%w: server at %s accepted the connections of %d tests in a row and never answered (last: %s: %s)",
		ErrServerSilent, eng.Target.BaseURL, *silent, b.TestID, b.Error)
}

// findServer detects or probes the server; its names are cut to MaxNameBytes
// and a model id it would be asked for over MaxModelBytes is refused.
func (r *Runner) findServer(ctx context.Context) (detect.Server, error) {
	srv, err := r.locateServer(ctx)
	if err != nil {
		return srv, err
	}
	if err := checkModel(r.modelOf(srv)); err != nil {
		return detect.Server{}, err
	}
	return boundServer(srv), nil
}

// modelOf is the model a run asks srv for: Runner.Model, else the loaded one,
// else the first listed; "" when there is none.
func (r *Runner) modelOf(srv detect.Server) string {
	switch {
	case r.Model != "":
		return r.Model
	case srv.LoadedModel != "":
		return srv.LoadedModel
	case len(srv.Models) > 0:
		return srv.Models[0]
	}
	return ""
}
