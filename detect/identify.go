package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// firstPaths are asked of every candidate at once; each rule then asks for the
// few more answers it needs (served from the cache when already fetched). None of
// them changes a server's state or makes a server compute. Never asked: /ping,
// and / or /health of a server not yet known: TGI routes /, /health and /ping
// to a health check of its shards (a prefill after a failed generation) and
// SGLang's /health generates a token. /health is asked only once a llama-server
// answer was seen, / only once Ollama's /api/version or llamafile's /props was.
var firstPaths = []string{
	"/props",
	"/v1/models",
	"/api/version",
	"/version",
	"/info",
	"/model_info",
	"/api/v0/models",
	"/api/v1/models",
	"/v1/internal/model/info",
	"/api/extra/version",
	"/openapi.json",
	"/.well-known/localai.json",
}

// rule recognises one kind (or a family of kinds) from a candidate's answers.
// match returns ok only when at least two answers agree.
type rule struct {
	name  Kind
	match func(ctx context.Context, src source) (Server, bool)
}

// rules are tried in order: the kinds that emulate others' APIs (KoboldCpp and
// LocalAI answer Ollama's endpoints, llamafile is a llama-server) come before
// the kinds they emulate.
var rules = []rule{
	{KindKoboldCpp, matchKoboldCpp},
	{KindLocalAI, matchLocalAI},
	{KindJan, matchJan},
	{KindLMStudio, matchLMStudio},
	{KindTGWUI, matchTGWUI},
	{KindSGLang, matchSGLang},
	{KindTGI, matchTGI},
	{KindVLLM, matchVLLM},
	{KindLlamaCpp + "/" + KindLlamafile, matchLlamaCpp},
	{KindOllama, matchOllama},
}

// candidateBudget is how many request timeouts one candidate may take in all:
// the first paths are asked at once, the few more a rule needs one by one.
const candidateBudget = 4

// identify probes one candidate over the network.
func (p *prober) identify(ctx context.Context, c candidate) (Server, error) {
	base := c.base
	// The pre-dial is for loopback candidates only: a remote URL may be reachable
	// only through the proxy of the environment.
	if p.direct && isLoopback(base) {
		if err := p.dialable(ctx, base); err != nil {
			if ctx.Err() != nil {
				return Server{}, ctx.Err()
			}
			if c.fallback == "" || p.dialable(ctx, c.fallback) != nil {
				return Server{}, &ProbeError{URL: base, Reason: "nothing listening: " + shortErr(err, p.timeout), quiet: true}
			}
			base = c.fallback
		}
	}
	// At most maxReading candidates are read at once: each may hold a dozen
	// answers of up to MaxAnswerBytes and their decoding.
	select {
	case p.reading <- struct{}{}:
		defer func() { <-p.reading }()
	case <-ctx.Done():
		return Server{}, ctx.Err()
	}
	// A candidate that answers some paths and leaves others hanging gets
	// candidateBudget timeouts in all, then is skipped: one whose answers were
	// cut short is not identified from the rest.
	cctx, cancel := context.WithTimeout(ctx, candidateBudget*p.timeout)
	defer cancel()
	src := p.source(base, c.explicit)
	src.prefetch(cctx, slices.Concat(firstPaths, []string{canaryPath}))
	s, why := Server{}, ""
	if cctx.Err() == nil {
		s, why = identifyFrom(cctx, src)
	}
	switch {
	case ctx.Err() != nil:
		return Server{}, ctx.Err()
	case cctx.Err() != nil:
		why = fmt.Sprintf("answered too slowly: not identified within %v (%d times the request timeout; no answer to %s)",
			candidateBudget*p.timeout, candidateBudget, src.slowest())
	}
	if why != "" {
		return Server{}, &ProbeError{URL: base, Reason: why, quiet: strings.HasPrefix(why, typhonItself)}
	}
	s.BaseURL = base
	s.Port = c.port
	return s, nil
}

func isLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}

// identifyFrom runs the rules over a candidate's answers. It returns the server
// found, or a reason why none was.
func identifyFrom(ctx context.Context, src source) (Server, string) {
	for _, path := range firstPaths {
		if a := src.get(ctx, path); a.header.Get(TyphonHeader) != "" {
			return Server{}, fmt.Sprintf("%s (%s header on %s)", typhonItself, TyphonHeader, path)
		}
	}
	src = maskCatchAll(ctx, src)
	for _, r := range rules {
		if s, ok := r.match(ctx, src); ok {
			markAuth(ctx, src, &s)
			return finish(s), ""
		}
	}
	if l, ok := decodeModels(src.get(ctx, "/v1/models")); ok {
		return finish(Server{Kind: KindOpenAI, Models: l.ids()}), ""
	}
	return Server{}, noMatchReason(ctx, src)
}

// markAuth sets Settings["auth"] on a server identified from its public
// answers whose /v1/models (asked of every candidate) refused us, when its
// rule did not already say why.
func markAuth(ctx context.Context, src source, s *Server) {
	if s.Settings["auth"] != "" {
		return
	}
	if a := src.get(ctx, "/v1/models"); a.err == nil && (a.status == 401 || a.status == 403) {
		if s.Settings == nil {
			s.Settings = map[string]string{}
		}
		s.Settings["auth"] = fmt.Sprintf("API key required (/v1/models answered HTTP %d)", a.status)
	}
}

// finish fills the display name and keeps the numbers in range.
func finish(s Server) Server {
	s.Name = displayNames[s.Kind]
	s.CtxSize = clampCtx(int64(s.CtxSize))
	if s.Slots < 0 || s.Slots > 1<<20 {
		s.Slots = 0
	}
	if s.Models == nil {
		s.Models = []string{}
	}
	if s.LoadedModel != "" && !slices.Contains(s.Models, s.LoadedModel) {
		s.Models = append([]string{s.LoadedModel}, s.Models...)
	}
	s.Models = uniqueNames(s.Models, maxNamesRead)
	if n := len(s.Models); n > MaxModels {
		s.Models = s.Models[:MaxModels]
		if s.Settings == nil {
			s.Settings = map[string]string{}
		}
		s.Settings["models_listed"] = strconv.Itoa(n)
	}
	if len(s.Settings) == 0 {
		s.Settings = nil
	}
	return s
}

// --- Ollama ---

func matchOllama(ctx context.Context, src source) (Server, bool) {
	ver, ok := decodeObject[versionBody](src.get(ctx, "/api/version"))
	if !ok || ver.Version == nil {
		return Server{}, false
	}
	root := src.get(ctx, "/")
	rootOK := root.ok() && strings.TrimSpace(string(root.body)) == "Ollama is running"
	tags, tagsOK := decodeOllamaList(src.get(ctx, "/api/tags"))
	ps, psOK := decodeOllamaList(src.get(ctx, "/api/ps"))
	if !rootOK && !(tagsOK && psOK) {
		return Server{}, false
	}
	s := Server{Kind: KindOllama, Version: string(*ver.Version), Settings: map[string]string{}}
	for _, m := range tags {
		s.Models = appendUnique(s.Models, m.name())
	}
	var loaded *ollamaModel
	for i := range ps {
		if ps[i].name() != "" {
			loaded = &ps[i]
			break
		}
	}
	showName := ""
	if loaded != nil {
		s.LoadedModel = loaded.name()
		showName = s.LoadedModel
		s.CtxSize = int(loaded.ContextLength)
		if loaded.Size > 0 && loaded.SizeVRAM != nil {
			share := float64(*loaded.SizeVRAM) / float64(loaded.Size)
			share = min(max(share, 0), 1)
			s.VRAMShare = &share
		}
		s.Quantization = quant(string(loaded.Details.QuantizationLevel))
		settingInt(s.Settings, "size_bytes", int64(loaded.Size))
		if loaded.SizeVRAM != nil {
			s.Settings["size_vram_bytes"] = fmt.Sprint(int64(*loaded.SizeVRAM))
		}
		setting(s.Settings, "parameter_size", string(loaded.Details.ParameterSize))
		setting(s.Settings, "digest", string(loaded.Digest))
		if s.CtxSize > 0 {
			s.Settings["ctx_source"] = "/api/ps context_length"
		}
		var others []string
		for _, m := range ps[1:] {
			others = appendUnique(others, m.name())
		}
		setting(s.Settings, "also_loaded", strings.Join(uniqueNames(others, 64), ","))
	} else if len(s.Models) > 0 {
		showName = s.Models[0]
	}
	if showName != "" {
		body, _ := json.Marshal(map[string]string{"model": showName})
		if show, ok := decodeObject[ollamaShow](src.post(ctx, "/api/show", body)); ok {
			train := show.trainCtx()
			settingInt(s.Settings, "n_ctx_train", int64(train))
			if loaded != nil && s.Quantization == "" {
				// Idle, no model is loaded: the first listed model's
				// quantisation would describe nothing running.
				s.Quantization = quant(string(show.Details.QuantizationLevel))
			}
			setting(s.Settings, "family", string(show.Details.Family))
			if n := show.numCtx(); n > 0 {
				setting(s.Settings, "modelfile_num_ctx", fmt.Sprint(n))
				if s.CtxSize == 0 {
					if train > 0 {
						n = min(n, train)
					}
					s.CtxSize = n
					s.Settings["ctx_source"] = "Modelfile num_ctx of " + showName
				}
			}
		}
	}
	if s.CtxSize == 0 {
		s.Settings["ctx_source"] = "unknown until a model is loaded (server default: OLLAMA_CONTEXT_LENGTH or VRAM-based)"
	}
	return s, true
}

// quant drops Ollama's "unknown" quantization level.
func quant(q string) string {
	if strings.EqualFold(q, "unknown") {
		return ""
	}
	return q
}

// --- LM Studio ---

func matchLMStudio(ctx context.Context, src source) (Server, bool) {
	v0, v0OK := decodeObject[lmsV0List](src.get(ctx, "/api/v0/models"))
	v0OK = v0OK && v0.Data != nil
	v1, v1OK := decodeObject[lmsV1List](src.get(ctx, "/api/v1/models"))
	v1OK = v1OK && v1.Models != nil
	models, modelsOK := decodeModels(src.get(ctx, "/v1/models"))
	v0Marked, v1Marked := false, false
	if v0OK {
		for _, m := range *v0.Data {
			if m.State != nil || m.CompatibilityType != nil {
				v0Marked = true
			}
		}
	}
	if v1OK {
		for _, m := range *v1.Models {
			if m.Key != nil && m.LoadedInstances != nil {
				v1Marked = true
			}
		}
	}
	switch {
	case (v0Marked || v1Marked) && (modelsOK || (v0OK && v1OK)):
	case v0OK && v1OK && modelsOK && len(*v0.Data) == 0 && len(*v1.Models) == 0:
		// No model downloaded: three empty lists in LM Studio's three shapes.
	default:
		return Server{}, false
	}
	s := Server{Kind: KindLMStudio, Settings: map[string]string{}}
	if v1OK {
		for _, m := range *v1.Models {
			if m.Key == nil {
				continue
			}
			s.Models = appendUnique(s.Models, string(*m.Key))
			if s.LoadedModel == "" && m.LoadedInstances != nil && len(*m.LoadedInstances) > 0 {
				inst := (*m.LoadedInstances)[0]
				s.LoadedModel = firstNonEmpty(string(inst.ID), string(*m.Key))
				s.CtxSize = int(inst.Config.ContextLength)
				if m.Quantization != nil {
					s.Quantization = string(m.Quantization.Name)
				}
				settingInt(s.Settings, "max_context_length", int64(m.MaxContextLength))
				setting(s.Settings, "architecture", string(m.Architecture))
				setting(s.Settings, "format", string(m.Format))
				setting(s.Settings, "publisher", string(m.Publisher))
			}
		}
	}
	if v0OK {
		for _, m := range *v0.Data {
			s.Models = appendUnique(s.Models, string(m.ID))
			if m.State != nil && *m.State == "loaded" && (s.LoadedModel == "" || s.LoadedModel == string(m.ID)) {
				if s.LoadedModel == "" {
					s.LoadedModel = string(m.ID)
					s.Quantization = string(m.Quantization)
					settingInt(s.Settings, "max_context_length", int64(m.MaxContextLength))
					setting(s.Settings, "architecture", string(m.Arch))
					if m.CompatibilityType != nil {
						setting(s.Settings, "format", string(*m.CompatibilityType))
					}
					setting(s.Settings, "publisher", string(m.Publisher))
				}
				if s.CtxSize == 0 {
					s.CtxSize = int(m.LoadedContextLength)
				}
			}
		}
	}
	for _, id := range models.ids() {
		s.Models = appendUnique(s.Models, id)
	}
	return s, true
}

// --- text-generation-webui ---

func matchTGWUI(ctx context.Context, src source) (Server, bool) {
	infoA := src.get(ctx, "/v1/internal/model/info")
	if !hasKeys(infoA, "model_name", "lora_names") {
		return Server{}, false
	}
	info, _ := decodeObject[tgwuiModelInfo](infoA)
	list, listOK := decodeObject[tgwuiModelList](src.get(ctx, "/v1/internal/model/list"))
	listOK = listOK && list.ModelNames != nil
	if _, ok := decodeModels(src.get(ctx, "/v1/models")); !ok && !listOK {
		return Server{}, false
	}
	s := Server{Kind: KindTGWUI, Settings: map[string]string{}}
	if name := string(info.ModelName); name != "" && name != "None" {
		s.LoadedModel = name
	}
	if listOK {
		for _, n := range *list.ModelNames {
			if n != "None" {
				s.Models = appendUnique(s.Models, string(n))
			}
		}
	}
	setting(s.Settings, "loader", string(info.Loader))
	var loras []string
	for _, l := range info.LoraNames {
		loras = appendUnique(loras, string(l))
	}
	setting(s.Settings, "lora_names", strings.Join(uniqueNames(loras, 64), ","))
	return s, true
}

// --- KoboldCpp ---

func matchKoboldCpp(ctx context.Context, src source) (Server, bool) {
	v, ok := decodeObject[koboldVersion](src.get(ctx, "/api/extra/version"))
	if !ok || !strings.EqualFold(string(v.Result), "KoboldCpp") {
		return Server{}, false
	}
	model, modelOK := decodeObject[koboldResult](src.get(ctx, "/api/v1/model"))
	modelOK = modelOK && model.Result != nil
	models, modelsOK := decodeModels(src.get(ctx, "/v1/models"))
	if !modelOK && !modelsOK {
		return Server{}, false
	}
	s := Server{Kind: KindKoboldCpp, Version: string(v.Version), Models: models.ids(), Settings: map[string]string{}}
	// Started with --password, /api/v1/model answers a placeholder to a request
	// without it; /v1/models is not protected and names the real model.
	placeholder := modelOK && *model.Result == koboldProtectedModel
	if modelOK && !placeholder && *model.Result != "" && !strings.EqualFold(string(*model.Result), "inactive") {
		s.LoadedModel = string(*model.Result)
	} else if len(s.Models) > 0 {
		s.LoadedModel = s.Models[0]
	}
	if ctxLen, ok := decodeObject[koboldValue](src.get(ctx, "/api/extra/true_max_context_length")); ok {
		s.CtxSize = int(ctxLen.Value)
	}
	// /props (KoboldCpp 1.8x and later) says total_slots 1: one request at a time.
	if props, ok := decodeObject[llamaProps](src.get(ctx, "/props")); ok && props.TotalSlots != nil {
		s.Slots = int(*props.TotalSlots)
	}
	if bool(v.Protected) || placeholder {
		s.Settings["auth"] = "password required (--password)"
	}
	return s, true
}

// koboldProtectedModel is what KoboldCpp's /api/v1/model answers, started with
// --password, to a request without the password. Never a model name.
const koboldProtectedModel = "koboldcpp/protected-model"

// --- Jan ---

func matchJan(ctx context.Context, src source) (Server, bool) {
	doc, ok := decodeObject[openAPIDoc](src.get(ctx, "/openapi.json"))
	if !ok || doc.Info == nil || !strings.HasPrefix(string(doc.Info.Title), "Jan ") {
		return Server{}, false
	}
	modelsA := src.get(ctx, "/v1/models")
	models, modelsOK := decodeModels(modelsA)
	needsKey := modelsA.err == nil && (modelsA.status == 401 || modelsA.status == 403)
	if !modelsOK && !needsKey {
		return Server{}, false
	}
	s := Server{Kind: KindJan, Models: models.ids(), Settings: map[string]string{}}
	if len(s.Models) > 0 {
		s.LoadedModel = s.Models[0]
	}
	if avail, ok := decodeObject[janAvailable](src.get(ctx, "/v1/models/available")); ok && avail.Data != nil {
		for _, m := range *avail.Data {
			s.Models = appendUnique(s.Models, string(m.ID))
		}
	}
	if needsKey {
		s.Settings["auth"] = "API key required"
	}
	return s, true
}

// --- LocalAI ---

func matchLocalAI(ctx context.Context, src source) (Server, bool) {
	modelsA := src.get(ctx, "/v1/models")
	models, modelsOK := decodeModels(modelsA)
	needsKey := modelsA.err == nil && (modelsA.status == 401 || modelsA.status == 403)
	if !modelsOK && !needsKey {
		return Server{}, false
	}
	wk, wkOK := decodeObject[localAIWellKnown](src.get(ctx, "/.well-known/localai.json"))
	wkOK = wkOK && wk.Endpoints != nil
	version := string(wk.Version)
	if !wkOK {
		if models.ownedBy("vllm") {
			return Server{}, false
		}
		ver, ok := decodeObject[versionBody](src.get(ctx, "/version"))
		if !ok || ver.Version == nil {
			return Server{}, false
		}
		version = string(*ver.Version)
	}
	sys, sysOK := decodeObject[localAISystem](src.get(ctx, "/system"))
	sysOK = sysOK && sys.Backends != nil
	if !wkOK && !sysOK {
		return Server{}, false
	}
	s := Server{Kind: KindLocalAI, Models: models.ids(), Settings: map[string]string{}}
	// LocalAI says "v3.1.1 (f4a5b6c)": the version, then the commit.
	ver, commit, _ := strings.Cut(version, " (")
	s.Version = strings.TrimSpace(ver)
	setting(s.Settings, "commit", strings.TrimSuffix(strings.TrimSpace(commit), ")"))
	if sysOK {
		if sys.LoadedModels != nil && len(*sys.LoadedModels) > 0 {
			s.LoadedModel = string((*sys.LoadedModels)[0].ID)
		}
		var backends []string
		for _, b := range *sys.Backends {
			backends = appendUnique(backends, string(b))
		}
		setting(s.Settings, "backends", strings.Join(uniqueNames(backends, 64), ","))
	}
	if needsKey {
		s.Settings["auth"] = "API key required"
	}
	return s, true
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}
