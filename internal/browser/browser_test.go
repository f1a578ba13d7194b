package browser

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// render renders a page or skips when chromium is missing, unless
// TYPHON_REQUIRE_SERVERS=1 asks for every tool of the test bed.
func render(t *testing.T, html string) *Page {
	t.Helper()
	p, err := Render(t.Context(), []byte(html), Options{Width: 400, Height: 300})
	if errors.Is(err, ErrNotInstalled) {
		if os.Getenv("TYPHON_REQUIRE_SERVERS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRenderCatches checks the detectors on pages built to trip them: a page
// that loads an image from another host is seen asking for it, a page whose
// script logs an error is seen logging it, and a plain page trips neither.
func TestRenderCatches(t *testing.T) {
	t.Parallel()
	plain := render(t, `<!DOCTYPE html><html><head><title>plain</title></head><body><p id="x">hello</p></body></html>`)
	if len(plain.Requests) != 0 || len(plain.Console) != 0 {
		t.Errorf("plain page: requests %q, console %q", plain.Requests, plain.Console)
	}
	if !strings.Contains(plain.DOM, `<p id="x">hello</p>`) {
		t.Errorf("plain page DOM lacks its paragraph:\n%s", plain.DOM)
	}
	if len(plain.Screenshot) < 8 || string(plain.Screenshot[1:4]) != "PNG" {
		t.Errorf("screenshot is not a PNG (%d bytes)", len(plain.Screenshot))
	}

	fetch := render(t, `<!DOCTYPE html><html><head><link rel="stylesheet" href="https://typhon-test.invalid/x.css"></head>`+
		`<body><img src="http://typhon-test.invalid/pixel.png"></body></html>`)
	for _, u := range []string{"https://typhon-test.invalid/x.css", "http://typhon-test.invalid/pixel.png"} {
		if !strings.Contains(strings.Join(fetch.Requests, " "), u) {
			t.Errorf("page loading %s: requests %q, want it seen", u, fetch.Requests)
		}
	}

	logs := render(t, `<!DOCTYPE html><html><body><script>console.error("typhon-canary")</script></body></html>`)
	if !strings.Contains(strings.Join(logs.Console, "\n"), "typhon-canary") {
		t.Errorf("page logging an error: console %q, want it seen; log:\n%s", logs.Console, logs.Log)
	}
	if !strings.Contains(logs.DOM, "<script>") {
		t.Errorf("DOM lacks the script element")
	}
	if pr := plain.Problems(); len(pr) != 0 {
		t.Errorf("plain page: problems %q", pr)
	}
	for name, p := range map[string]*Page{"fetching": fetch, "logging": logs} {
		if len(p.Problems()) < 2 {
			t.Errorf("%s page: problems %q, want its request or message and its element", name, p.Problems())
		}
	}
}
