package advice

import (
	"net"
	"os"
	"os/user"
	"path"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/net/publicsuffix"
)

// More placeholders of a summary.
const (
	redactedPath = "[path]"
	redactedID   = "[id]"
	redactedUser = "[user]"
	redactedMail = "[email]"
)

var (
	// pathStartRE finds an absolute path (Unix or Windows) that starts a word,
	// so that "tok/s" is none; group 1 is what precedes it.
	pathStartRE = regexp.MustCompile(`(^|[\s"'=(\[,;:])((?:[A-Za-z]:)?(?:[/\\][^\s/\\"'` + "`" + `<>()\[\],;]+)+[/\\]?)`)
	// colonRunRE finds a candidate IPv6 or MAC address (two ':' or more, an
	// optional zone, brackets and port); addressLike decides.
	colonRunRE = regexp.MustCompile(`(?i)\[?[0-9a-f.]*:[0-9a-f.]*:[0-9a-f:.]*(?:%[a-z0-9_.-]+)?\]?(?::\d+)?`)
	// hostPortRE finds a host and port: a name with a letter (localhost:8080,
	// ip6-localhost:8080), a short or hex IPv4 (127.1:8080, 0x7f.1:8080).
	hostPortRE = regexp.MustCompile(`(?i)\b(?:[a-z0-9-]*[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*|\d+(?:\.\d+){1,3}|0x[0-9a-f]+(?:\.(?:0x)?[0-9a-f]+){0,3}):\d{2,5}\b`)
	macDashRE  = regexp.MustCompile(`(?i)\b[0-9a-f]{2}(?:[-:][0-9a-f]{2}){5}\b`)
	// bearerRE finds an HTTP credential; keyValueRE a value named as one
	// (api_key=..., token: ..., TYPHON_API_KEY=...). Other assignments
	// (OLLAMA_CONTEXT_LENGTH=8192 of a suggested command) are kept.
	bearerRE   = regexp.MustCompile(`(?i)\b(bearer|basic)(\s+)[^\s"'&,;]+`)
	keyValueRE = regexp.MustCompile(`(?i)\b([a-z0-9_-]*(?:token|key|secret|password|passwd|pwd|auth|authorization|credential))(\s*[=:]\s*)[^\s"'&,;]+`)
	uuidRE     = regexp.MustCompile(`(?i)\b(?:GPU-|MIG-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	longNumRE  = regexp.MustCompile(`\b\d{9,}\b`)
	hexRunRE   = regexp.MustCompile(`(?i)\b[0-9a-f]{16,}\b`)
	alnumRunRE = regexp.MustCompile(`[A-Za-z0-9]{20,}`)
	emailRE    = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+`)
	domainRE   = regexp.MustCompile(`(?i)\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.([a-z]{2,24})\b`)
)

// fileEnds are endings of model files that are also top-level domains, and
// privateTLDs the names networks use privately.
var (
	fileEnds    = map[string]bool{"bin": true, "pt": true, "pth": true, "zip": true, "onnx": true, "ggml": true, "gguf": true, "safetensors": true, "json": true, "model": true}
	privateTLDs = map[string]bool{"lan": true, "local": true, "localdomain": true, "internal": true, "intranet": true, "corp": true, "home": true, "private": true}
)

// scrubPatterns replaces, in t, what names a machine, a person or a secret by
// its kind: credentials, paths (a file keeps its name), IPv6 and MAC
// addresses, UUIDs, serial numbers, hashes and keys, e-mail addresses and
// host names.
func scrubPatterns(t string) string {
	t = bearerRE.ReplaceAllString(t, "${1}${2}"+redactedSecret)
	t = keyValueRE.ReplaceAllString(t, "${1}${2}"+redactedSecret)
	t = replaceGroup(pathStartRE, t, func(p string) string {
		base := path.Base(strings.ReplaceAll(strings.TrimRight(p, `/\`), `\`, "/"))
		if strings.Contains(base, ".") && base != "." && base != ".." {
			return base // a file keeps its name: a model's tells the advisor which
		}
		return redactedPath
	})
	t = colonRunRE.ReplaceAllStringFunc(t, func(m string) string {
		if addressLike(m) {
			return redactedIP
		}
		return m
	})
	t = macDashRE.ReplaceAllString(t, redactedIP)
	t = hostPortRE.ReplaceAllString(t, redactedIP)
	t = emailRE.ReplaceAllString(t, redactedMail)
	t = uuidRE.ReplaceAllString(t, redactedID)
	t = longNumRE.ReplaceAllString(t, redactedID)
	t = hexRunRE.ReplaceAllString(t, redactedID)
	t = alnumRunRE.ReplaceAllStringFunc(t, func(m string) string {
		if strings.ContainsAny(m, "0123456789") && strings.IndexFunc(m, unicode.IsLetter) >= 0 {
			return redactedSecret
		}
		return m
	})
	return domainRE.ReplaceAllStringFunc(t, func(m string) string {
		tld := strings.ToLower(m[strings.LastIndexByte(m, '.')+1:])
		if _, icann := publicsuffix.PublicSuffix(tld); !fileEnds[tld] && (privateTLDs[tld] || icann) {
			return redactedHost
		}
		return m
	})
}

// addressLike says whether m (from colonRunRE) is an IPv6 or MAC address.
func addressLike(m string) bool {
	s := strings.TrimPrefix(m, "[")
	if i := strings.IndexByte(s, ']'); i >= 0 {
		s = s[:i]
	}
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i]
	}
	if net.ParseIP(s) != nil || macDashRE.MatchString(s) {
		return true
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && net.ParseIP(s[:i]) != nil {
		return true // an address followed by a port, without brackets
	}
	return false
}

// replaceGroup replaces group 2 of each match of re in s by f of it, keeping
// group 1.
func replaceGroup(re *regexp.Regexp, s string, f func(string) string) string {
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[last:m[4]])
		b.WriteString(f(s[m[4]:m[5]]))
		last = m[5]
	}
	b.WriteString(s[last:])
	return b.String()
}

// localWords are this machine's user name and home directory, replaced
// wherever they occur (the host name is among the scrubber's hosts).
func localWords() (home string, users []string) {
	home, _ = os.UserHomeDir()
	if u, err := user.Current(); err == nil {
		for _, n := range []string{u.Username, u.Name} {
			if len(strings.TrimSpace(n)) >= 2 {
				users = append(users, n)
			}
		}
	}
	return home, users
}
