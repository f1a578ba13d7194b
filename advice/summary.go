package advice

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// Placeholders that stand where a summary held something private.
const (
	redactedServer = "[server]"
	redactedHost   = "[host]"
	redactedSecret = "[redacted]"
	redactedIP     = "[address]"
)

var (
	urlRE  = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s"'` + "`" + `<>()]+`)
	ipv4RE = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(:\d+)?\b`)
)

// Summary is the compact summary of a run that Ask sends: report.NewBrief of
// res (the one GET /report serves: figures, findings, suggested command,
// hardware), as JSON, with everything that could name the machine or its owner
// taken out: the server's URL, host names and IP addresses become
// placeholders, every absolute path keeps only its last element (a model file
// keeps its name), and each of secrets (an API key, a data directory) is
// replaced wherever it occurs.
func Summary(res *schema.Result, secrets ...string) ([]byte, error) {
	b := report.NewBrief(clip(res))
	b.Server.APIBase = ""
	b.RunID, b.RunAt = "", time.Time{} // a run id holds the time and any name given to the runner
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	// Cut before scrubbing too: a record of megabytes would take the
	// scrubber's patterns seconds.
	if v, _, err = bound(v, MaxSummaryBytes); err != nil {
		return nil, err
	}
	s := newScrubber(res, secrets)
	_, out, err := bound(s.walk(v), MaxSummaryBytes)
	return out, err
}

// maxRecordText is where clip cuts a record's free texts.
const maxRecordText = 1000

// clip is a copy of res whose free texts (errors, skip reasons, notes) are
// cut to maxRecordText bytes: the brief quotes them, some more than once.
func clip(res *schema.Result) *schema.Result {
	c := *res
	c.Error = cutText(c.Error)
	c.Benchmarks = make([]schema.Benchmark, len(res.Benchmarks))
	for i, b := range res.Benchmarks {
		b.Error, b.SkipReason = cutText(b.Error), cutText(b.SkipReason)
		b.Notes = make([]string, len(b.Notes))
		for j, n := range res.Benchmarks[i].Notes {
			b.Notes[j] = cutText(n)
		}
		b.Runs = make([]schema.RunSample, len(b.Runs))
		for j, r := range res.Benchmarks[i].Runs {
			r.Error = cutText(r.Error)
			b.Runs[j] = r
		}
		c.Benchmarks[i] = b
	}
	return &c
}

func cutText(s string) string {
	if len(s) <= maxRecordText {
		return s
	}
	return strings.ToValidUTF8(s[:maxRecordText], "") + "…"
}

// bound marshals v in at most max bytes: when it is larger, every text is cut
// and every list shortened (the first entries kept, a last one saying how many
// were left out), more and more, until it fits.
func bound(v any, max int) (any, []byte, error) {
	out, err := json.Marshal(v)
	for text, items := 600, 64; err == nil && len(out) > max; text, items = text/2, items/2 {
		if items < 2 {
			return nil, nil, fmt.Errorf("the summary does not fit in %d bytes", max)
		}
		c := cut(v, text, items)
		if out, err = json.Marshal(c); len(out) <= max {
			return c, out, err
		}
	}
	return v, out, err
}

// cut is a copy of v with texts of at most text bytes and lists of at most
// items entries.
func cut(v any, text, items int) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = cut(x, text, items)
		}
		return m
	case []any:
		n := min(len(v), items)
		l := make([]any, 0, n+1)
		for _, x := range v[:n] {
			l = append(l, cut(x, text, items))
		}
		if len(v) > n {
			l = append(l, fmt.Sprintf("(%d more left out)", len(v)-n))
		}
		return l
	case string:
		if len(v) > text {
			return strings.ToValidUTF8(v[:text], "") + "…"
		}
	}
	return v
}

// scrubber rewrites the strings of a summary.
type scrubber struct {
	secrets []string // replaced by redactedSecret, longest first
	hosts   []string // replaced by redactedHost as whole words
	home    string   // this user's home directory, replaced by redactedPath
	users   []string // this user's names, replaced by redactedUser as whole words
}

func newScrubber(res *schema.Result, secrets []string) *scrubber {
	s := &scrubber{}
	s.home, s.users = localWords()
	for _, x := range secrets {
		if len(strings.TrimSpace(x)) >= 3 {
			s.secrets = append(s.secrets, x)
		}
	}
	if u, err := url.Parse(res.Server.APIBase); err == nil && u.Hostname() != "" {
		s.hosts = append(s.hosts, u.Hostname())
	}
	if h, err := os.Hostname(); err == nil {
		s.hosts = append(s.hosts, h)
		if short, _, ok := strings.Cut(h, "."); ok {
			s.hosts = append(s.hosts, short)
		}
	}
	return s
}

func (s *scrubber) walk(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = s.walk(x)
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = s.walk(x)
		}
		return v
	case string:
		return s.text(v)
	}
	return v
}

// text scrubs one string.
func (s *scrubber) text(t string) string {
	for _, x := range s.secrets {
		t = strings.ReplaceAll(t, x, redactedSecret)
	}
	t = urlRE.ReplaceAllString(t, redactedServer)
	if len(s.home) > 1 {
		t = strings.ReplaceAll(t, s.home, redactedPath)
	}
	t = scrubPatterns(t)
	t = ipv4RE.ReplaceAllString(t, redactedIP)
	for _, u := range s.users {
		t = regexp.MustCompile(`(?i)\b`+regexp.QuoteMeta(u)+`\b`).ReplaceAllString(t, redactedUser)
	}
	for _, h := range s.hosts {
		if len(h) < 2 || h == "localhost" {
			continue
		}
		t = regexp.MustCompile(`\b`+regexp.QuoteMeta(h)+`\b`).ReplaceAllString(t, redactedHost)
	}
	return t
}
