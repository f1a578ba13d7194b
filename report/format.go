package report

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// pct is the signed relative change of v from base, e.g. "−12.3%".
func pct(v, base float64) string {
	if base == 0 {
		return "n/a"
	}
	p := 100 * (v - base) / base
	if !finite(p) {
		return "n/a"
	}
	if p < 0 {
		return fmt.Sprintf("−%.1f%%", fig(-p))
	}
	return fmt.Sprintf("+%.1f%%", fig(p))
}

// fig is a figure from a record for fmt's %f and %g verbs (precision kept,
// width ignored): one beyond 1e15 (no real speed, size or temperature) or not
// finite is written as %.3g, not as 309 digits.
type fig float64

func (v fig) Format(f fmt.State, verb rune) {
	x := float64(v)
	p, ok := f.Precision()
	if !ok {
		p = -1
	}
	if math.Abs(x) >= 1e15 || !finite(x) || (verb != 'f' && verb != 'g') {
		verb, p = 'g', 3
	}
	if f.Flag('+') && x >= 0 {
		_, _ = f.Write([]byte{'+'})
	}
	_, _ = f.Write([]byte(strconv.FormatFloat(x, byte(verb), p, 64)))
}

// commas formats v rounded to an integer with thousands separators.
func commas(v float64) string {
	if !finite(v) {
		return "—"
	}
	if math.Abs(v) >= 1e15 { // beyond any real count, and int64 ends at 9.2e18
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// oneLine keeps text on one line (for list items and headings).
// Text from a record is made fit to show on a terminal or a page: valid UTF-8,
// no terminal escape sequences, other control characters and bidirectional
// overrides, embeddings and isolates as U+FFFD.
func oneLine(s string) string {
	s = ansi.ReplaceAllString(strings.ToValidUTF8(s, "\uFFFD"), "")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			return ' '
		case unicode.IsControl(r), r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
			// Bidi embeddings, overrides and isolates too: one in a model name
			// would reverse the rest of a summary's line, figures included.
			return '\uFFFD'
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// ansi matches terminal escape sequences (CSI, OSC and two-byte escapes).
var ansi = regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])`)

// cell makes text safe inside a table cell.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

// code makes text safe inside backticks.
func code(s string) string {
	return strings.ReplaceAll(oneLine(s), "`", "'")
}

func orDash(s string) string { return orText(cell(s), "—") }

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
