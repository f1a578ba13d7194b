package advice

import (
	"encoding/json"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"

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
	// pathRE finds an absolute path of at least two elements (Unix or Windows).
	pathRE = regexp.MustCompile(`(?:[A-Za-z]:)?(?:[/\\][^\s/\\"'` + "`" + `<>()]+){2,}[/\\]?`)
)

// Summary is the compact summary of a run that Ask sends: report.NewBrief of
// res (the one GET /report serves: figures, findings, suggested command,
// hardware), as JSON, with everything that could name the machine or its owner
// taken out: the server's URL, host names and IP addresses become
// placeholders, every absolute path keeps only its last element (a model file
// keeps its name), and each of secrets (an API key, a data directory) is
// replaced wherever it occurs.
func Summary(res *schema.Result, secrets ...string) ([]byte, error) {
	b := report.NewBrief(res)
	b.Server.APIBase = ""
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	s := newScrubber(res, secrets)
	return json.Marshal(s.walk(v))
}

// scrubber rewrites the strings of a summary.
type scrubber struct {
	secrets []string // replaced by redactedSecret, longest first
	hosts   []string // replaced by redactedHost as whole words
}

func newScrubber(res *schema.Result, secrets []string) *scrubber {
	s := &scrubber{}
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
	t = pathRE.ReplaceAllStringFunc(t, func(p string) string {
		return path.Base(strings.ReplaceAll(strings.TrimRight(p, `/\`), `\`, "/"))
	})
	t = ipv4RE.ReplaceAllString(t, redactedIP)
	for _, h := range s.hosts {
		if len(h) < 2 || h == "localhost" {
			continue
		}
		t = regexp.MustCompile(`\b`+regexp.QuoteMeta(h)+`\b`).ReplaceAllString(t, redactedHost)
	}
	return t
}
