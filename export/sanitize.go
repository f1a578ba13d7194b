package export

import (
	"net"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

// Limits on the strings of an export.
const (
	maxToken = 64  // ids, kinds, versions
	maxText  = 128 // model names, CPU and GPU models
)

var (
	tokenRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*$`)
	// ipv4RE finds a dotted quad anywhere in a string, in decimal or hex parts
	// (0xc0.0xa8.1.7 is an address too).
	ipv4RE = regexp.MustCompile(`(?i)\b(?:0x[0-9a-f]{1,2}|\d{1,4})(?:\.(?:0x[0-9a-f]{1,2}|\d{1,4})){3}\b`)
	// macRE finds a MAC address written with '-' (with ':' it is caught as
	// two colons).
	macRE = regexp.MustCompile(`(?i)\b[0-9a-f]{2}(?:-[0-9a-f]{2}){5}\b`)
	// emailRE finds an e-mail address ("CPU @ 3.00GHz" is none).
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*`)
	// longNumberRE finds a serial number or an address written as one number.
	longNumberRE = regexp.MustCompile(`\d{9,}`)
	// hexRunRE finds a long hex string: a UUID without dashes, a hash, a key.
	hexRunRE = regexp.MustCompile(`(?i)[0-9a-f]{16,}`)
	// alnumRunRE finds a run of letters and digits long enough to be a key.
	alnumRunRE = regexp.MustCompile(`[A-Za-z0-9]{20,}`)
	// domainRE finds a dotted name ending in letters: a host name when its last
	// label is a top-level domain (see hostLike).
	domainRE = regexp.MustCompile(`(?i)\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.([a-z]{2,24})\b`)
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
	case strings.Count(s, ":") >= 2 || macRE.MatchString(s):
		return "an IPv6 or MAC address"
	case emailRE.MatchString(s):
		return "an e-mail address"
	case longNumberRE.MatchString(s) || hexRunRE.MatchString(s) || keyLike(s):
		return "a serial number, hash or key"
	case hostLike(s):
		return "a host name"
	}
	return ""
}

// keyLike says whether s holds a run of 20 or more letters and digits that
// mixes both, as API keys and tokens do.
func keyLike(s string) bool {
	for _, run := range alnumRunRE.FindAllString(s, -1) {
		if strings.ContainsAny(run, "0123456789") && strings.IndexFunc(run, unicode.IsLetter) >= 0 {
			return true
		}
	}
	return false
}

// fileExtensions are endings of model files that are also top-level domains.
var fileExtensions = set("bin", "pt", "pth", "zip", "onnx", "ggml", "gguf", "safetensors", "json", "model")

// hostLike says whether s holds a dotted name whose last label is a top-level
// domain of the public list (com, lan is not; see publicsuffix) or a name
// networks use privately (lan, local, internal, corp, home, localdomain).
func hostLike(s string) bool {
	for _, m := range domainRE.FindAllStringSubmatch(s, -1) {
		tld := strings.ToLower(m[1])
		if fileExtensions[tld] {
			continue
		}
		if privateTLDs[tld] {
			return true
		}
		if _, icann := publicsuffix.PublicSuffix(tld); icann {
			return true
		}
	}
	return false
}

var privateTLDs = set("lan", "local", "localdomain", "internal", "intranet", "corp", "home", "localhost", "private")
