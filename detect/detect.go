// Package detect finds the LLM inference servers answering on a machine and
// fingerprints each one: its kind, version, models, the model loaded now, the
// context a request really gets, its parallel slots and, for Ollama, how much of
// the model sits in VRAM.
//
// # Identification
//
// A server is identified by what it answers, never by its port: llama-server
// listens on 8080 like TGI, llamafile and LocalAI; SGLang, vLLM and Typhon's own
// HTTP example may all sit on 8000 or 30000. Every kind is recognised from at
// least two answers that agree (for example llama-server's /props together with
// the "llamacpp" owner of its /v1/models, or Ollama's /api/version together with
// its "Ollama is running" root), because single answers are shared: llama-server
// also answers Ollama's /api/tags, LocalAI and KoboldCpp emulate Ollama, and
// TabbyAPI answers text-generation-webui's /v1/internal/model/info. A server that
// serves an OpenAI-style /v1/models but matches no known kind is reported as
// [KindOpenAI], not guessed.
//
// A server reached through a proxy or under a path prefix (a base URL such as
// http://host/vllm/v1) is identified from what the proxy lets through: vLLM
// and llama-server from their model cards alone (vLLM's permission objects,
// llama-server's model meta) when nothing else answers. llamafile's
// default server is a llama-server of early 2024 whose web UI names
// llamafile; when its answers cannot tell (another web UI), it is reported as
// llama.cpp with Settings["note"] saying it may be llamafile.
//
// No probe makes a server compute: / and /health are never asked of an
// unknown server (TGI runs a health check of its shards there, SGLang's
// /health generates a token), and /ping never.
//
// # The context a request really gets
//
// Server.CtxSize is the number of tokens one request can use:
//
//   - llama-server: n_ctx of one slot (/props default_generation_settings.n_ctx),
//     which is the -c total divided among the --parallel slots unless the KV cache
//     is unified.
//   - Ollama with a model loaded: /api/ps context_length of that model (the
//     num_ctx its runner was started with; a request with other options would
//     reload it). With no model loaded, the num_ctx PARAMETER of the first listed
//     model's Modelfile (/api/show), capped at the model's training context; when
//     the Modelfile sets none, 0 (unknown): the server then uses
//     OLLAMA_CONTEXT_LENGTH or its VRAM-based default (4096 below 23 GiB), and
//     neither is visible through its API. Settings["n_ctx_train"] still gives the
//     model's training context. Load the model (any request to it) to know.
//   - vLLM and SGLang: max_model_len of /v1/models; TGI: max_total_tokens of
//     /info; KoboldCpp: /api/extra/true_max_context_length; LM Studio: the
//     context_length of the loaded instance.
//
// # Loading, API keys
//
// A llama-server still loading its model answers 503 "Loading model" and is
// reported with Loading set. vLLM, SGLang and TGI open their port only once the
// model is loaded; Ollama, LM Studio and the others load on demand. A server
// that needs a key or password for some of its answers (llama-server with
// --api-key, KoboldCpp with --password, Jan, LocalAI) is reported with
// Settings["auth"] set, whichever answer revealed it, and with what its public
// answers give (a llama-server whose /v1/models is public: its model and
// context, slots unknown); a placeholder such as KoboldCpp's
// "koboldcpp/protected-model" is never taken for a model name. Give its URL
// in Options.URLs with Options.APIKey to read the rest.
//
// # Bad answers
//
// Every request has a short timeout ([DefaultTimeout]), a candidate four
// timeouts in all (one that answers some paths and hangs on the others is
// skipped as too slow, not identified from what it did answer), reads at most
// [MaxAnswerBytes], follows no redirect, and a candidate that accepts and never
// answers, answers HTML or broken JSON, redirects in a loop or sends a huge body
// is skipped; the reason goes to Options.Logger at debug level. A path no
// server has is asked with the first paths: a server that answers it with a
// 2xx (a catch-all web app, a mock) has its answers that are the same as that
// one ignored, so that one answer read under several paths never passes for
// two that agree. A scan reads at most five candidates at once, so that the
// memory it takes stays a few times MaxAnswerBytes per path however many
// candidates send large answers. A candidate whose
// answers carry [TyphonHeader] is Typhon itself and is never reported.
package detect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// ErrNoServer is returned (wrapped) when no LLM server was found. The job
// contract's sentence for it belongs to the HTTP example, which maps it.
var ErrNoServer = errors.New("no LLM server detected")

// TyphonHeader is set by Typhon's own HTTP server on every response. A candidate
// whose answers carry it is never reported.
const TyphonHeader = "X-Typhon-Server"

// Kinds of server (Server.Kind), defined in package schema.
const (
	KindLlamaCpp  = schema.KindLlamaCpp
	KindOllama    = schema.KindOllama
	KindLMStudio  = schema.KindLMStudio
	KindVLLM      = schema.KindVLLM
	KindTGWUI     = schema.KindTGWUI
	KindJan       = schema.KindJan
	KindSGLang    = schema.KindSGLang
	KindTGI       = schema.KindTGI
	KindKoboldCpp = schema.KindKoboldCpp
	KindLlamafile = schema.KindLlamafile
	KindLocalAI   = schema.KindLocalAI
	KindOpenAI    = schema.KindOpenAI
)

// Kind names a kind of server; see schema.Kind.
type Kind = schema.Kind

// displayNames are the Server.Name of each kind.
var displayNames = map[Kind]string{
	KindLlamaCpp:  "llama.cpp (llama-server)",
	KindOllama:    "Ollama",
	KindLMStudio:  "LM Studio",
	KindVLLM:      "vLLM",
	KindTGWUI:     "text-generation-webui",
	KindJan:       "Jan",
	KindSGLang:    "SGLang",
	KindTGI:       "TGI (text-generation-inference)",
	KindKoboldCpp: "KoboldCpp",
	KindLlamafile: "llamafile",
	KindLocalAI:   "LocalAI",
	KindOpenAI:    "OpenAI-compatible server",
}

// Kinds lists every Server.Kind this package reports.
func Kinds() []Kind {
	return []Kind{KindLlamaCpp, KindOllama, KindLMStudio, KindVLLM, KindTGWUI, KindJan,
		KindSGLang, KindTGI, KindKoboldCpp, KindLlamafile, KindLocalAI, KindOpenAI}
}

// Defaults of a zero Options.
const (
	// DefaultTimeout bounds each probe request. A port that accepts and never
	// answers costs one DefaultTimeout.
	DefaultTimeout = 500 * time.Millisecond
	// MaxAnswerBytes is the most read from one answer; a longer one is skipped.
	MaxAnswerBytes = 1 << 20
)

// DefaultPorts are the loopback ports probed by default, each the default port
// of at least one server kind: llama-server, llamafile, LocalAI and TGI's Docker
// examples (8080), Ollama (11434), LM Studio (1234), vLLM (8000),
// text-generation-webui (5000), Jan (1337), SGLang (30000), TGI's launcher
// (3000) and KoboldCpp (5001).
var DefaultPorts = []int{8080, 11434, 1234, 8000, 5000, 1337, 30000, 3000, 5001}

// Server is one LLM server found.
type Server struct {
	// Kind is one of the Kind constants.
	Kind Kind `json:"kind"`
	// Name is the display name, e.g. "llama.cpp (llama-server)", "Ollama".
	Name string `json:"name"`
	// Version is the server's version or build, "" when it does not say.
	Version string `json:"version,omitempty"`
	// BaseURL is the root of its API, without a trailing slash
	// ("http://127.0.0.1:8080").
	BaseURL string `json:"base_url"`
	Port    int    `json:"port"`
	// Models lists the models available, as the server names them.
	Models []string `json:"models"`
	// LoadedModel is the model loaded now, "" when none or unknown.
	LoadedModel string `json:"loaded_model,omitempty"`
	// CtxSize is the context one request really gets (see the package
	// documentation), 0 when unknown.
	CtxSize int `json:"ctx_size,omitempty"`
	// Slots is the number of requests served in parallel, 0 when unknown.
	Slots int `json:"slots,omitempty"`
	// VRAMShare is the share of the loaded model held in VRAM, from 0 to 1
	// (Ollama: size_vram/size); nil when unknown.
	VRAMShare *float64 `json:"vram_share,omitempty"`
	// Loading is true for a server that is up but still loading its model.
	Loading bool `json:"loading,omitempty"`
	// Quantization of the model where the server says it (e.g. Q4_K_M).
	Quantization string `json:"quantization,omitempty"`
	// Settings holds what the server reports about itself that matters to
	// reproduce a run (build, model path, training context, flags...).
	Settings map[string]string `json:"settings,omitempty"`
}

// Options configures Scan and Probe. The zero value probes the default loopback
// ports with the default timeout.
type Options struct {
	// Ports are extra loopback ports to probe.
	Ports []int
	// URLs are extra base URLs to probe; they may name remote hosts. A trailing
	// "/v1" is dropped.
	URLs []string
	// NoDefaults probes only Ports and URLs.
	NoDefaults bool
	// APIKey is sent as a bearer token to URLs (never to loopback ports that were
	// not asked for) and to the URL given to Probe. It is never logged.
	APIKey string
	// Timeout bounds each probe request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Client makes the requests. nil means our own client: it follows no
	// redirect, keeps no cookie, checks a loopback candidate with one TCP dial
	// before asking it anything, and tries a loopback port refused on 127.0.0.1
	// on [::1]. A caller's client gets none of these.
	Client *http.Client
	// Logger receives debug output, notably why each candidate was skipped; nil
	// discards it.
	Logger *slog.Logger
	// Exclude lists base URLs never reported (e.g. Typhon's own address).
	Exclude []string
	// Skipped, when set, is called by Scan once the scan is done, in port
	// order, with each candidate not reported that was named in URLs or that
	// accepted a connection (Typhon's own server aside), and why: what a
	// caller shows to say why a server it expected was not found.
	Skipped func(Skip)
}

// ProbeError says why a base URL was not identified as an LLM server. It
// matches ErrNoServer with errors.Is.
type ProbeError struct {
	URL    string
	Reason string
	// quiet: nothing listening, or Typhon's own server; not worth a Skip
	// unless the URL was asked for.
	quiet bool
}

func (e *ProbeError) Error() string {
	return fmt.Sprintf("detect: %s: no LLM server: %s", e.URL, e.Reason)
}

// Is reports whether target is ErrNoServer.
func (e *ProbeError) Is(target error) bool { return target == ErrNoServer }

// candidate is one base URL to probe.
type candidate struct {
	base     string // normalised base URL
	port     int
	explicit bool   // from Options.URLs or Probe: gets the API key
	fallback string // another base to try when base refuses the connection ([::1] for loopback)
}

// Scan probes the candidates in parallel and returns the LLM servers found,
// sorted by port then base URL. Candidates that answer nothing useful are
// skipped (see Options.Logger). The error is non-nil only for bad options or
// when ctx ends; then no server is returned.
func Scan(ctx context.Context, opts Options) ([]Server, error) {
	cands, err := candidates(opts)
	if err != nil {
		return nil, err
	}
	p := newProber(opts)
	defer p.close()
	results := make([]*Server, len(cands))
	skips := make([]*Skip, len(cands))
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := p.identify(ctx, c)
			if err != nil {
				p.log.Debug("detect: skipped candidate", "url", c.base, "reason", reason(err))
				skips[i] = notableSkip(c, err)
				return
			}
			if p.excluded(s.BaseURL) {
				p.log.Debug("detect: skipped candidate", "url", s.BaseURL, "reason", "excluded by Options.Exclude")
				return
			}
			p.log.Debug("detect: found server", "url", s.BaseURL, "kind", s.Kind, "model", s.LoadedModel, "ctx_size", s.CtxSize)
			results[i] = &s
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("detect: scan: %w", err)
	}
	reportSkips(opts.Skipped, skips)
	var out []Server
	seen := map[string]bool{}
	for _, s := range results {
		if s == nil || seen[s.BaseURL] {
			continue
		}
		seen[s.BaseURL] = true
		out = append(out, *s)
	}
	sortServers(out)
	return out, nil
}

// Probe identifies the server at one base URL. The API key, if any, is sent. It
// returns a *ProbeError (matching ErrNoServer) when the URL answers nothing that
// identifies an LLM server, and a wrapped ctx.Err() when ctx ends.
func Probe(ctx context.Context, baseURL string, opts Options) (Server, error) {
	base, port, err := normalizeURL(baseURL)
	if err != nil {
		return Server{}, fmt.Errorf("detect: probe: %w", err)
	}
	p := newProber(opts)
	defer p.close()
	s, err := p.identify(ctx, candidate{base: base, port: port, explicit: true, fallback: localhostFallback(baseURL, base)})
	if err != nil {
		if ctx.Err() != nil {
			return Server{}, fmt.Errorf("detect: probe %s: %w", base, ctx.Err())
		}
		p.log.Debug("detect: skipped candidate", "url", base, "reason", reason(err))
		return Server{}, err
	}
	return s, nil
}

func reason(err error) string {
	var pe *ProbeError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return err.Error()
}

// candidates lists the base URLs to probe, without duplicates, excluded ones
// left out.
func candidates(opts Options) ([]candidate, error) {
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("detect: negative Timeout %v", opts.Timeout)
	}
	var out []candidate
	seen := map[string]int{}
	add := func(c candidate) {
		if i, ok := seen[c.base]; ok {
			out[i].explicit = out[i].explicit || c.explicit
			return
		}
		seen[c.base] = len(out)
		out = append(out, c)
	}
	loopback := func(port int) candidate {
		return candidate{
			base:     "http://127.0.0.1:" + strconv.Itoa(port),
			port:     port,
			fallback: "http://[::1]:" + strconv.Itoa(port),
		}
	}
	if !opts.NoDefaults {
		for _, port := range DefaultPorts {
			add(loopback(port))
		}
	}
	for _, port := range opts.Ports {
		if port < 1 || port > 65535 {
			return nil, fmt.Errorf("detect: bad port %d", port)
		}
		add(loopback(port))
	}
	for _, u := range opts.URLs {
		base, port, err := normalizeURL(u)
		if err != nil {
			return nil, fmt.Errorf("detect: %w", err)
		}
		add(candidate{base: base, port: port, explicit: true, fallback: localhostFallback(u, base)})
	}
	excl := excludeSet(opts.Exclude)
	out = slices.DeleteFunc(out, func(c candidate) bool { return excl[c.base] })
	return out, nil
}

// normalizeURL checks a base URL and returns it without trailing slash or
// trailing "/v1" (or "/v1/chat/completions" and the other OpenAI endpoints),
// with "localhost" spelled 127.0.0.1, and its port. Its errors
// never quote a password the URL holds.
func normalizeURL(raw string) (string, int, error) {
	shown := redactURL(raw)
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", 0, fmt.Errorf("bad base URL %q: %s", shown, strings.ReplaceAll(shortErr(err, 0), raw, shown))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", 0, fmt.Errorf("bad base URL %q: scheme must be http or https", shown)
	}
	if u.Hostname() == "" {
		return "", 0, fmt.Errorf("bad base URL %q: no host", shown)
	}
	if u.User != nil {
		return "", 0, fmt.Errorf("bad base URL %q: a user or password in the URL is not sent; give an API key instead (a bearer token)", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", 0, fmt.Errorf("bad base URL %q: no query or fragment allowed", shown)
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, fmt.Errorf("bad base URL %q: bad port", shown)
		}
		port = n
	}
	hostport := host
	if strings.Contains(host, ":") {
		// An IPv6 zone ("fe80::1%eth0") is written %25 in a URL.
		hostport = "[" + strings.Replace(host, "%", "%25", 1) + "]"
	}
	if u.Port() != "" {
		hostport += ":" + u.Port()
	}
	path := strings.TrimRight(u.Path, "/")
	for _, endpoint := range []string{"/chat/completions", "/completions", "/models", "/embeddings"} {
		// The URL of an endpoint, pasted for the server's: its base.
		if p, ok := strings.CutSuffix(path, "/v1"+endpoint); ok {
			path = p
			break
		}
	}
	path = strings.TrimSuffix(path, "/v1")
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(hostport) + path, port, nil
}

func excludeSet(list []string) map[string]bool {
	m := map[string]bool{}
	for _, e := range list {
		if base, _, err := normalizeURL(e); err == nil {
			m[base] = true
		}
	}
	return m
}

func sortServers(s []Server) {
	slices.SortStableFunc(s, func(a, b Server) int {
		if a.Port != b.Port {
			return a.Port - b.Port
		}
		return strings.Compare(a.BaseURL, b.BaseURL)
	})
}

// userInfo matches the user and password part of a URL.
var userInfo = regexp.MustCompile(`(?i)^(\s*[a-z][a-z0-9+.-]*://)[^/?#]*@`)

// redactURL hides the user and password a URL may hold, also one url.Parse
// refuses.
func redactURL(raw string) string {
	return userInfo.ReplaceAllString(raw, "${1}[redacted]@")
}

// localhostFallback is the [::1] twin of base when raw names "localhost"
// (which base spells 127.0.0.1): a server listening on [::1] only is found
// there, as "localhost" would resolve.
func localhostFallback(raw, base string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || !strings.EqualFold(u.Hostname(), "localhost") {
		return ""
	}
	return strings.Replace(base, "://127.0.0.1", "://[::1]", 1)
}
