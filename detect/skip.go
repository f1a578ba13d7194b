package detect

import (
	"errors"
	"slices"
)

// Skip is a candidate Scan did not report, and why (see Options.Skipped).
type Skip struct {
	URL    string `json:"url"`
	Reason string `json:"reason"`
}

// typhonItself begins the reason of a candidate that is Typhon's own server.
const typhonItself = "Typhon's own server"

// notableSkip is the Skip of a candidate that was asked for or answered
// something; nil for a closed port or Typhon itself.
func notableSkip(c candidate, err error) *Skip {
	var pe *ProbeError
	if !errors.As(err, &pe) {
		return nil // ctx ended: Scan returns its error
	}
	if pe.quiet && !c.explicit {
		return nil
	}
	return &Skip{URL: pe.URL, Reason: pe.Reason}
}

// reportSkips calls f with each skip, in port then URL order.
func reportSkips(f func(Skip), skips []*Skip) {
	if f == nil {
		return
	}
	var list []Server // sorted as servers are
	byURL := map[string]Skip{}
	for _, s := range skips {
		if s != nil {
			_, port, _ := normalizeURL(s.URL)
			list = append(list, Server{BaseURL: s.URL, Port: port})
			byURL[s.URL] = *s
		}
	}
	sortServers(list)
	list = slices.CompactFunc(list, func(a, b Server) bool { return a.BaseURL == b.BaseURL })
	for _, s := range list {
		f(byURL[s.BaseURL])
	}
}
