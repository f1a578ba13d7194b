package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// firstPaths are asked of every candidate at once; each rule then asks for the
// few more answers it needs (served from the cache when already fetched). None of
// them changes a server's state or starts a generation: SGLang's and TGI's
// /health may generate a token, so /health is only asked once a llama-server
// answer was seen.
var firstPaths = []string{
	"/",
	"/props",
	"/v1/models",
	"/api/version",
	"/version",
	"/info",
	"/get_model_info",
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
				return Server{}, &ProbeError{URL: base, Reason: "nothing listening: " + shortErr(err, p.timeout)}
			}
			base = c.fallback
		}
	}
	src := p.source(base, c.explicit)
	src.prefetch(ctx, firstPaths)
	if ctx.Err() != nil {
		return Server{}, ctx.Err()
	}
	s, why := identifyFrom(ctx, src)
	if ctx.Err() != nil {
		return Server{}, ctx.Err()
	}
	if why != "" {
		return Server{}, &ProbeError{URL: base, Reason: why}
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
			return Server{}, fmt.Sprintf("Typhon's own server (%s header on %s)", TyphonHeader, path)
		}
	}
	for _, r := range rules {
		if s, ok := r.match(ctx, src); ok {
			return finish(s), ""
		}
	}
	if l, ok := decodeModels(src.get(ctx, "/v1/models")); ok {
		return finish(Server{Kind: KindOpenAI, Models: l.ids()}), ""
	}
	return Server{}, noMatchReason(ctx, src)
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
	if len(s.Settings) == 0 {
		s.Settings = nil
	}
	return s
}

// noMatchReason says what the candidate answered instead of a known API.
func noMatchReason(ctx context.Context, src source) string {
	first := src.get(ctx, "/v1/models")
	allFailed := true
	for _, path := range firstPaths {
		if a := src.get(ctx, path); a.err == nil {
			allFailed = false
			break
		}
	}
	switch {
	case allFailed:
		return "no answer: " + first.describe()
	case first.err == nil && (first.status == 401 || first.status == 403):
		return fmt.Sprintf("/v1/models answered HTTP %d: an API key is needed (Options.APIKey, sent to Options.URLs only)", first.status)
	}
	var parts []string
	for _, path := range []string{"/v1/models", "/props", "/api/version", "/"} {
		parts = append(parts, path+": "+src.get(ctx, path).describe())
	}
	return "no known LLM API answered (" + strings.Join(parts, "; ") + ")"
}

// serverHeader is the Server header of an answer, lower-cased.
func serverHeader(a answer) string { return strings.ToLower(a.header.Get("Server")) }

// --- llama.cpp llama-server, and llamafile (a llama-server build) ---

func matchLlamaCpp(ctx context.Context, src source) (Server, bool) {
	propsA := src.get(ctx, "/props")
	modelsA := src.get(ctx, "/v1/models")
	rootA := src.get(ctx, "/")
	props, propsOK := decodeObject[llamaProps](propsA)
	propsOK = propsOK && props.DefaultGenerationSettings != nil && props.TotalSlots != nil
	models, modelsOK := decodeModels(modelsA)
	ownedLlama := modelsOK && models.ownedBy("llamacpp")

	llamafileHdr := ""
	for _, a := range []answer{propsA, modelsA, rootA} {
		if h := serverHeader(a); strings.HasPrefix(h, "llamafile") {
			llamafileHdr = h
		}
	}
	// "Server: llama.cpp" on an answer other than /props.
	llamaHdr := serverHeader(modelsA) == "llama.cpp" || serverHeader(rootA) == "llama.cpp"

	s := Server{Kind: KindLlamaCpp, Settings: map[string]string{}}
	switch {
	case propsOK && (ownedLlama || llamaHdr || llamafileHdr != ""):
	case propsOK && healthOK(ctx, src):
	case modelsOK && llamafileHdr != "":
		// llamafile's own server (llamafiler) has no /props.
	case llamaLoading(propsA) && (llamaLoading(modelsA) || llamaHdr || llamaLoading(src.get(ctx, "/health"))):
		s.Loading = true
		return s, true
	case ownedLlama && modelsHaveStatus(models):
		// Router mode: no model of its own; /health answers for the router.
		if !healthOK(ctx, src) {
			return Server{}, false
		}
		return llamaRouter(ctx, src, models), true
	case ownedLlama && healthOK(ctx, src):
		// An older build without total_slots in /props.
	case authError(propsA) && authError(modelsA) && llamaHdr && healthOK(ctx, src):
		// Started with --api-key: only / and /health answer without the key.
		s.Settings["auth"] = "API key required"
		return s, true
	default:
		return Server{}, false
	}

	s.Models = models.ids()
	for _, m := range models.models() {
		if m.Status != nil { // router entries are handled above
			continue
		}
		s.LoadedModel = string(*m.ID)
		if m.Meta != nil {
			settingInt(s.Settings, "n_ctx_train", int64(m.Meta.NCtxTrain))
			settingInt(s.Settings, "n_params", int64(m.Meta.NParams))
			settingInt(s.Settings, "model_size_bytes", int64(m.Meta.Size))
			if s.CtxSize == 0 {
				s.CtxSize = int(m.Meta.NCtx)
			}
			s.Quantization = string(m.Meta.Ftype)
		}
		break
	}
	if propsOK {
		s.Version = string(props.BuildInfo)
		s.Slots = int(*props.TotalSlots)
		if n := props.DefaultGenerationSettings.NCtx; n > 0 {
			s.CtxSize = int(n)
		}
		if props.ModelFtype != "" {
			s.Quantization = string(props.ModelFtype)
		}
		if s.LoadedModel == "" {
			s.LoadedModel = firstNonEmpty(string(props.ModelAlias), string(props.ModelPath), string(props.DefaultGenerationSettings.Model))
		}
		setting(s.Settings, "build_info", string(props.BuildInfo))
		setting(s.Settings, "model_path", string(props.ModelPath))
		if props.IsSleeping {
			s.Settings["sleeping"] = "true"
		}
	}
	if s.CtxSize == 0 || s.Slots == 0 {
		if slots, ok := decodeArray[llamaSlot](src.get(ctx, "/slots")); ok && len(slots) > 0 {
			if s.Slots == 0 {
				s.Slots = len(slots)
			}
			if s.CtxSize == 0 {
				s.CtxSize = int(slots[0].NCtx)
			}
		}
	}
	settingInt(s.Settings, "total_slots", int64(s.Slots))
	if llamafileHdr != "" || strings.Contains(strings.ToLower(string(props.BuildInfo)), "llamafile") ||
		strings.HasPrefix(string(props.ModelPath), "/zip/") {
		s.Kind = KindLlamafile
		if v, ok := strings.CutPrefix(llamafileHdr, "llamafile/"); ok {
			s.Version = v
		}
		setting(s.Settings, "server", llamafileHdr)
	}
	return s, true
}

// authError reports llama-server's answer to a request without its API key:
// 401 {"error": {"type": "authentication_error"}}.
func authError(a answer) bool {
	if a.err != nil || a.status != 401 {
		return false
	}
	e, ok := decodeObjectBody[apiError](a.body)
	return ok && e.Error != nil && e.Error.Type == "authentication_error"
}

func healthOK(ctx context.Context, src source) bool {
	h, ok := decodeObject[statusBody](src.get(ctx, "/health"))
	return ok && h.Status == "ok"
}

func modelsHaveStatus(l oaiList) bool {
	for _, m := range l.models() {
		if m.Status != nil {
			return true
		}
	}
	return false
}

// llamaRouter describes a llama-server in router mode: the loaded model's own
// /props (asked with ?model=) gives its context and slots.
func llamaRouter(ctx context.Context, src source, models oaiList) Server {
	s := Server{Kind: KindLlamaCpp, Models: models.ids(), Settings: map[string]string{"router_mode": "true"}}
	for _, m := range models.models() {
		if m.Status != nil && m.Status.Value == "loaded" {
			s.LoadedModel = string(*m.ID)
			break
		}
	}
	if s.LoadedModel == "" {
		return s
	}
	props, ok := decodeObject[llamaProps](src.get(ctx, "/props?model="+url.QueryEscape(s.LoadedModel)))
	if ok && props.DefaultGenerationSettings != nil {
		s.CtxSize = int(props.DefaultGenerationSettings.NCtx)
		if props.TotalSlots != nil {
			s.Slots = int(*props.TotalSlots)
		}
		s.Version = string(props.BuildInfo)
		s.Quantization = string(props.ModelFtype)
		setting(s.Settings, "build_info", string(props.BuildInfo))
		setting(s.Settings, "model_path", string(props.ModelPath))
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
		setting(s.Settings, "also_loaded", strings.Join(others, ","))
	} else if len(s.Models) > 0 {
		showName = s.Models[0]
	}
	if showName != "" {
		body, _ := json.Marshal(map[string]string{"model": showName})
		if show, ok := decodeObject[ollamaShow](src.post(ctx, "/api/show", body)); ok {
			train := show.trainCtx()
			settingInt(s.Settings, "n_ctx_train", int64(train))
			if s.Quantization == "" {
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

// --- vLLM ---

func matchVLLM(ctx context.Context, src source) (Server, bool) {
	models, ok := decodeModels(src.get(ctx, "/v1/models"))
	if !ok || !models.ownedBy("vllm") {
		return Server{}, false
	}
	ver, ok := decodeObject[versionBody](src.get(ctx, "/version"))
	if !ok || ver.Version == nil {
		return Server{}, false
	}
	s := Server{Kind: KindVLLM, Version: string(*ver.Version), Models: models.ids(), Settings: map[string]string{}}
	for _, m := range models.models() {
		if m.Parent != "" { // a LoRA adapter of the base model
			continue
		}
		s.LoadedModel = string(*m.ID)
		s.CtxSize = int(m.MaxModelLen)
		setting(s.Settings, "root", string(m.Root))
		settingInt(s.Settings, "max_model_len", int64(m.MaxModelLen))
		break
	}
	return s, true
}

// --- SGLang ---

func matchSGLang(ctx context.Context, src source) (Server, bool) {
	info, ok := decodeObject[sglangModelInfo](src.get(ctx, "/get_model_info"))
	if !ok || info.ModelPath == nil || *info.ModelPath == "" {
		return Server{}, false
	}
	models, modelsOK := decodeModels(src.get(ctx, "/v1/models"))
	srvInfo, infoOK := decodeObject[map[string]json.RawMessage](src.get(ctx, "/get_server_info"))
	infoOK = infoOK && (srvInfo["version"] != nil || srvInfo["model_path"] != nil)
	if !(modelsOK && models.ownedBy("sglang")) && !infoOK {
		return Server{}, false
	}
	s := Server{Kind: KindSGLang, Models: models.ids(), Settings: map[string]string{}}
	setting(s.Settings, "model_path", string(*info.ModelPath))
	for _, m := range models.models() {
		s.LoadedModel = string(*m.ID)
		s.CtxSize = int(m.MaxModelLen)
		break
	}
	if s.LoadedModel == "" {
		s.LoadedModel = string(*info.ModelPath)
	}
	if infoOK {
		str := func(k string) string {
			var v jstr
			if raw, ok := srvInfo[k]; ok {
				_ = v.UnmarshalJSON(raw)
			}
			return string(v)
		}
		num := func(k string) int64 {
			var v jint
			if raw, ok := srvInfo[k]; ok {
				_ = v.UnmarshalJSON(raw)
			}
			return int64(v)
		}
		s.Version = str("version")
		s.Quantization = str("quantization")
		if s.CtxSize == 0 {
			s.CtxSize = int(num("context_length"))
		}
		s.Slots = int(num("max_running_requests"))
		for _, k := range []string{"dtype", "kv_cache_dtype", "attention_backend", "served_model_name"} {
			setting(s.Settings, k, str(k))
		}
		for _, k := range []string{"tp_size", "dp_size", "max_total_num_tokens", "max_req_input_len", "chunked_prefill_size", "max_running_requests"} {
			settingInt(s.Settings, k, num(k))
		}
	}
	return s, true
}

// --- TGI ---

func matchTGI(ctx context.Context, src source) (Server, bool) {
	info, ok := decodeObject[tgiInfo](src.get(ctx, "/info"))
	if !ok || info.ModelID == "" || info.Version == "" || (info.MaxTotalTokens <= 0 && info.Router == "") {
		return Server{}, false
	}
	// The second answer: /v1/models naming the model (TGI answers one model
	// object there, not a list), else its Prometheus metrics. Its /health is not
	// asked: it may run a generation on the shards.
	modelsA := src.get(ctx, "/v1/models")
	models, modelsOK := decodeModels(modelsA)
	one, oneOK := decodeObject[oaiModel](modelsA)
	listed := (modelsOK && slices.Contains(models.ids(), string(info.ModelID))) ||
		(oneOK && one.ID != nil && string(*one.ID) == string(info.ModelID))
	if !listed {
		m := src.get(ctx, "/metrics")
		if !m.ok() || !strings.Contains(string(m.body), "tgi_") {
			return Server{}, false
		}
	}
	s := Server{
		Kind:        KindTGI,
		Version:     string(info.Version),
		Models:      []string{string(info.ModelID)},
		LoadedModel: string(info.ModelID),
		CtxSize:     int(info.MaxTotalTokens),
		Settings:    map[string]string{},
	}
	setting(s.Settings, "model_dtype", string(info.ModelDtype))
	setting(s.Settings, "model_device_type", string(info.ModelDeviceType))
	setting(s.Settings, "model_sha", string(info.ModelSHA))
	setting(s.Settings, "sha", string(info.SHA))
	setting(s.Settings, "docker_label", string(info.DockerLabel))
	settingInt(s.Settings, "max_concurrent_requests", int64(info.MaxConcurrentRequests))
	settingInt(s.Settings, "max_input_tokens", int64(max(info.MaxInputTokens, info.MaxInputLength)))
	settingInt(s.Settings, "max_total_tokens", int64(info.MaxTotalTokens))
	settingInt(s.Settings, "max_batch_total_tokens", int64(info.MaxBatchTotalTokens))
	return s, true
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
	setting(s.Settings, "lora_names", strings.Join(loras, ","))
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
	if modelOK && *model.Result != "" && !strings.EqualFold(string(*model.Result), "inactive") {
		s.LoadedModel = string(*model.Result)
	} else if len(s.Models) > 0 {
		s.LoadedModel = s.Models[0]
	}
	if ctxLen, ok := decodeObject[koboldValue](src.get(ctx, "/api/extra/true_max_context_length")); ok {
		s.CtxSize = int(ctxLen.Value)
	}
	if v.Protected {
		s.Settings["protected"] = "true"
	}
	return s, true
}

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
	s := Server{Kind: KindLocalAI, Version: version, Models: models.ids(), Settings: map[string]string{}}
	if sysOK {
		if sys.LoadedModels != nil && len(*sys.LoadedModels) > 0 {
			s.LoadedModel = string((*sys.LoadedModels)[0].ID)
		}
		var backends []string
		for _, b := range *sys.Backends {
			backends = appendUnique(backends, string(b))
		}
		setting(s.Settings, "backends", strings.Join(backends, ","))
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
