package report

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/internal/browser"
	"github.com/typhonbench/typhon/internal/testbed"
)

// EnvScreenshots names a directory where the browser tests keep their
// screenshots (CI keeps them as artefacts); unset, they are not kept.
const EnvScreenshots = "TYPHON_SCREENSHOTS"

// browsers bounds the Chromium processes the tests start at once.
var browsers = make(chan struct{}, 2)

// RenderDashboard renders a dashboard in headless Chromium and checks what every
// page must satisfy: the charts wanted (by data-chart id, in order) with their
// two axis labels each, no console message, no request for anything, no
// element from the record's text. It keeps the screenshot as name.png under
// $TYPHON_SCREENSHOTS. A missing chromium skips the test, or fails it when
// TYPHON_REQUIRE_SERVERS=1.
func renderDashboard(t *testing.T, name string, html []byte, charts []string, opts browser.Options) *browser.Page {
	t.Helper()
	browsers <- struct{}{}
	p, err := browser.Render(t.Context(), html, opts)
	<-browsers
	if errors.Is(err, browser.ErrNotInstalled) {
		if testbed.Required() {
			t.Fatalf("%v (%s=1)", err, testbed.EnvRequire)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv(EnvScreenshots); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), p.Screenshot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := chartIDs(p.DOM); !slices.Equal(got, charts) {
		t.Errorf("%s: charts in the DOM %v, want %v", name, got, charts)
	}
	if n := strings.Count(p.DOM, `class="axis-label"`); n != 2*len(charts) {
		t.Errorf("%s: %d axis labels in the DOM, want %d", name, n, 2*len(charts))
	}
	for _, pr := range p.Problems() {
		t.Errorf("%s: %s", name, pr)
	}
	if len(p.Screenshot) < 10_000 {
		t.Errorf("%s: screenshot of %d bytes: blank?", name, len(p.Screenshot))
	}
	return p
}

// TestDashboardInBrowser renders the fixture records in headless Chromium: a
// full run, a run with load levels, a crashed CPU-only run, a run that found no
// server, a run without GPU power and temperature, a record full of hostile
// text, and two runs overlaid (also in dark mode).
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	for _, tt := range dashboardCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			html := []byte(dashboard(t, tt.runs()...))
			p := renderDashboard(t, "fixture_"+tt.name, html, tt.charts, browser.Options{})
			if tt.name == "hostile" {
				checkHostileDOM(t, p.DOM)
			}
		})
	}
	t.Run("two_runs_dark", func(t *testing.T) {
		t.Parallel()
		c := dashboardCases[len(dashboardCases)-1]
		renderDashboard(t, "fixture_two_runs_dark", []byte(dashboard(t, c.runs()...)), c.charts, browser.Options{DarkMode: true})
	})
}

// checkHostileDOM proves through the browser's DOM that the record's markup
// stayed text: its script did not run (the body has no data-pwned attribute),
// no element came from it, and its text is there as text.
func checkHostileDOM(t *testing.T, dom string) {
	t.Helper()
	if strings.Contains(dom, "data-pwned=") {
		t.Errorf("a script from the record ran: the DOM has data-pwned")
	}
	for _, want := range []string{
		`model &lt;script&gt;document.body.setAttribute("data-pwned","1")&lt;/script&gt;"&gt;&lt;img src=x onerror="document.body.setAttribute('data-pwned','2')"&gt;red link bell`,
		`<code>ctx_sweep_&lt;script&gt;`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the DOM lacks the record's text as text: %s", want)
		}
	}
}

// TestDashboardPrintsOnA4 prints the full run's dashboard in Chromium: every
// page is A4 (595 x 842 points).
func TestDashboardPrintsOnA4(t *testing.T) {
	t.Parallel()
	browsers <- struct{}{}
	pdf, err := browser.PrintPDF(t.Context(), []byte(dashboard(t, fullResult())), browser.Options{})
	<-browsers
	if errors.Is(err, browser.ErrNotInstalled) {
		if testbed.Required() {
			t.Fatalf("%v (%s=1)", err, testbed.EnvRequire)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	boxes := regexp.MustCompile(`/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]`).FindAllSubmatch(pdf, -1)
	if len(boxes) == 0 {
		t.Fatalf("no page in the PDF (%d bytes)", len(pdf))
	}
	for _, b := range boxes {
		w, _ := strconv.ParseFloat(string(b[1]), 64)
		h, _ := strconv.ParseFloat(string(b[2]), 64)
		if math.Abs(w-595.3) > 1.5 || math.Abs(h-841.9) > 1.5 {
			t.Errorf("page of %.1f x %.1f points, want A4 (595 x 842)", w, h)
		}
	}
	t.Logf("%d A4 pages", len(boxes))
}
