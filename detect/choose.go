package detect

import (
	"fmt"
	"slices"
	"strings"
)

// Preference constrains Choose. An empty field is no constraint.
type Preference struct {
	// Kind is a Server.Kind ("llama.cpp", "ollama", ...); common spellings such
	// as "llamacpp", "llama-server", "lm-studio" or "oobabooga" are accepted.
	Kind string
	// URL is a base URL; it matches after the same normalisation as
	// Options.URLs ("localhost" is 127.0.0.1, a trailing "/v1" is dropped).
	URL string
	// Model is a model the server has loaded or lists.
	Model string
}

func (p Preference) empty() bool { return p.Kind == "" && p.URL == "" && p.Model == "" }

func (p Preference) String() string {
	var parts []string
	if p.Kind != "" {
		parts = append(parts, "kind "+p.Kind)
	}
	if p.URL != "" {
		parts = append(parts, "URL "+p.URL)
	}
	if p.Model != "" {
		parts = append(parts, "model "+p.Model)
	}
	return strings.Join(parts, ", ")
}

// NoMatchError is returned by Choose when servers were found but none matches
// the preference. It matches ErrNoServer with errors.Is.
type NoMatchError struct {
	Preference Preference
	Found      []Server
}

func (e *NoMatchError) Error() string {
	var found []string
	for _, s := range e.Found {
		f := string(s.Kind) + " at " + s.BaseURL
		if s.LoadedModel != "" {
			f += " (" + s.LoadedModel + ")"
		}
		found = append(found, f)
	}
	return fmt.Sprintf("detect: no server matches %s; found: %s", e.Preference, strings.Join(found, ", "))
}

// Is reports whether target is ErrNoServer.
func (e *NoMatchError) Is(target error) bool { return target == ErrNoServer }

// kindAliases maps other spellings to a Kind.
var kindAliases = map[string]Kind{
	"llamacpp":                  KindLlamaCpp,
	"llama-cpp":                 KindLlamaCpp,
	"llama_cpp":                 KindLlamaCpp,
	"llama-server":              KindLlamaCpp,
	"llama.cpp (llama-server)":  KindLlamaCpp,
	"lm-studio":                 KindLMStudio,
	"lm studio":                 KindLMStudio,
	"tgwui":                     KindTGWUI,
	"oobabooga":                 KindTGWUI,
	"textgen":                   KindTGWUI,
	"text-generation-inference": KindTGI,
	"kobold":                    KindKoboldCpp,
	"kobold.cpp":                KindKoboldCpp,
	"openai":                    KindOpenAI,
	"local-ai":                  KindLocalAI,
}

// CanonicalKind returns the Kind a user's spelling names, or the input lowered
// when it is not known.
func CanonicalKind(kind string) Kind {
	k := strings.ToLower(strings.TrimSpace(kind))
	if c, ok := kindAliases[k]; ok {
		return c
	}
	return Kind(k)
}

// Choose picks one server.
//
// With a non-empty Preference, only servers matching all its fields are
// considered: Kind (see CanonicalKind), URL, and Model (the loaded model, or one
// of Models). Among the candidates, and by default among all servers, the order
// is: a server with the preferred model loaded, then one with any model loaded,
// then one not still loading, then the lowest port, then the base URL.
//
// With no server it returns ErrNoServer; when servers exist but none matches
// the preference, a *NoMatchError that lists them (it matches ErrNoServer too).
func Choose(servers []Server, p Preference) (Server, error) {
	if len(servers) == 0 {
		return Server{}, ErrNoServer
	}
	cands := servers
	if !p.empty() {
		cands = nil
		for _, s := range servers {
			if p.matches(s) {
				cands = append(cands, s)
			}
		}
		if len(cands) == 0 {
			found := slices.Clone(servers)
			sortServers(found)
			return Server{}, &NoMatchError{Preference: p, Found: found}
		}
	}
	return slices.MinFunc(cands, func(a, b Server) int { return p.compare(a, b) }), nil
}

func (p Preference) matches(s Server) bool {
	if p.Kind != "" && CanonicalKind(p.Kind) != s.Kind && !strings.EqualFold(p.Kind, s.Name) {
		return false
	}
	if p.URL != "" {
		base, _, err := normalizeURL(p.URL)
		if err != nil || base != s.BaseURL {
			return false
		}
	}
	if p.Model != "" && s.LoadedModel != p.Model && !slices.Contains(s.Models, p.Model) {
		return false
	}
	return true
}

// compare orders servers by preference (smaller is better).
func (p Preference) compare(a, b Server) int {
	rank := func(s Server) int {
		r := 0
		if p.Model != "" && s.LoadedModel != p.Model {
			r += 4
		}
		if s.LoadedModel == "" {
			r += 2
		}
		if s.Loading {
			r++
		}
		return r
	}
	if d := rank(a) - rank(b); d != 0 {
		return d
	}
	if a.Port != b.Port {
		return a.Port - b.Port
	}
	return strings.Compare(a.BaseURL, b.BaseURL)
}
