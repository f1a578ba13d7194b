package detect

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
)

// WriteTable writes servers as an aligned text table, one line per server:
// kind, base URL, version, loaded model, number of models, context per request,
// slots, share in VRAM and state. Unknown values print as "-". Text that came
// from a server is cleaned of control characters. With no server it writes one
// line saying so.
func WriteTable(w io.Writer, servers []Server) error {
	if len(servers) == 0 {
		_, err := fmt.Fprintln(w, "no LLM server found")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tBASE URL\tVERSION\tLOADED MODEL\tMODELS\tCTX\tSLOTS\tVRAM\tSTATE")
	for _, s := range servers {
		vram := "-"
		if s.VRAMShare != nil {
			vram = strconv.FormatFloat(*s.VRAMShare*100, 'f', 0, 64) + "%"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n",
			cell(string(s.Kind), 24), cell(s.BaseURL, 60), cell(s.Version, 24), cell(s.LoadedModel, 48),
			len(s.Models), num(s.CtxSize), num(s.Slots), vram, state(s))
	}
	return tw.Flush()
}

func state(s Server) string {
	switch {
	case s.Loading:
		return "loading"
	case s.Settings["auth"] != "":
		return "API key required"
	case s.LoadedModel != "":
		return "ready"
	case s.Kind == KindOpenAI:
		return "up"
	default:
		return "no model loaded"
	}
}

func num(n int) string {
	if n <= 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

// cell makes server-provided text safe for one table cell: no control
// characters (a server could send terminal escapes), no tabs or newlines, at
// most max runes.
func cell(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, strings.TrimSpace(s))
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return s
}
