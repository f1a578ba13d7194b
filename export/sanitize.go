package export

import (
	"net"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the strings of an export.
const (
	maxToken = 64  // ids, kinds, versions
	maxText  = 128 // model names, CPU and GPU models
)

var (
	tokenRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	// ipv4RE finds a dotted quad anywhere in a string.
	ipv4RE = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)
	// uuidRE finds a UUID anywhere in a string (NVML's GPU-xxxxxxxx-... too).
	uuidRE = regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
)

// token keeps s when it is a short identifier (a mode, kind, version, test id,
// error kind, quantisation) and not an IP address; otherwise "".
func token(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxToken || !tokenRE.MatchString(s) || unsafeText(s) != "" {
		return ""
	}
	return s
}

// text keeps a short descriptive string (CPU or GPU model, model name): one
// line of printable characters, cut to maxText runes; "" when it holds a path,
// URL, IP address or UUID.
func text(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }), " ")
	if utf8.RuneCountInString(s) > maxText {
		s = string([]rune(s)[:maxText])
	}
	if unsafeText(s) != "" {
		return ""
	}
	return s
}

// unsafeText says what in s may identify a machine or a person, "" when
// nothing the format forbids was found.
func unsafeText(s string) string {
	switch {
	case strings.ContainsAny(s, `/\`):
		return "a path or URL"
	case strings.Contains(s, "://"):
		return "a URL"
	case ipv4RE.MatchString(s):
		return "an IP address"
	case net.ParseIP(strings.Trim(s, "[]")) != nil:
		return "an IP address"
	case uuidRE.MatchString(s):
		return "a UUID"
	}
	return ""
}
