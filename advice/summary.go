package advice

import (
	"encoding/json"
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
	b := report.NewBrief(res)
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
	s := newScrubber(res, secrets)
	return json.Marshal(s.walk(v))
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
