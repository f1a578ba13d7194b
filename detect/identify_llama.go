package detect

import (
	"context"
	"net/url"
	"strings"
)

// serverHeader is the Server header of an answer, lower-cased.
func serverHeader(a answer) string { return strings.ToLower(a.header.Get("Server")) }

// --- llama.cpp llama-server, and llamafile (a llama-server build) ---

// llamaAnswers are the first answers the llama-server rule reads.
type llamaAnswers struct {
	propsA, modelsA answer
	props           llamaProps
	propsOK         bool // /props of a llama-server: default_generation_settings and total_slots
	models          oaiList
	modelsOK        bool
	ownedLlama      bool   // /v1/models owned_by "llamacpp"
	llamafileHdr    string // "Server: llamafile/..." (llamafiler, the newer llamafile server)
	llamaHdr        bool   // "Server: llama.cpp" on /v1/models
}

func readLlama(ctx context.Context, src source) llamaAnswers {
	e := llamaAnswers{propsA: src.get(ctx, "/props"), modelsA: src.get(ctx, "/v1/models")}
	e.props, e.propsOK = decodeObject[llamaProps](e.propsA)
	e.propsOK = e.propsOK && e.props.DefaultGenerationSettings != nil && e.props.TotalSlots != nil
	e.models, e.modelsOK = decodeModels(e.modelsA)
	e.ownedLlama = e.modelsOK && e.models.ownedBy("llamacpp")
	for _, a := range []answer{e.propsA, e.modelsA} {
		if h := serverHeader(a); strings.HasPrefix(h, "llamafile") {
			e.llamafileHdr = h
		}
	}
	e.llamaHdr = serverHeader(e.modelsA) == "llama.cpp"
	return e
}

// matchLlamaCpp recognises llama-server (also loading, in router mode or behind
// --api-key) and llamafile. /health is asked only once a llama-server answer
// was seen, / only of a /props in the shape of llamafile's server.
func matchLlamaCpp(ctx context.Context, src source) (Server, bool) {
	e := readLlama(ctx, src)
	s := Server{Kind: KindLlamaCpp, Settings: map[string]string{}}
	switch {
	case e.propsOK && (e.ownedLlama || e.llamaHdr || e.llamafileHdr != ""):
	case e.propsOK && healthOK(ctx, src):
	case e.modelsOK && e.llamafileHdr != "":
		// llamafile's own server (llamafiler) has no /props.
	case e.ownedLlama && llamaCards(e.models):
		// Behind a proxy that lets only /v1 through: llama-server's own model
		// cards (owned by "llamacpp", with the model's meta) say enough.
	case llamaLoading(e.propsA) && (llamaLoading(e.modelsA) || e.llamaHdr || llamaLoading(src.get(ctx, "/health"))):
		s.Loading = true
		return s, true
	case e.ownedLlama && modelsHaveStatus(e.models):
		// Router mode: no model of its own; /health answers for the router.
		if !healthOK(ctx, src) {
			return Server{}, false
		}
		return llamaRouter(ctx, src, e.models), true
	case e.ownedLlama && (authError(e.propsA) || healthOK(ctx, src)):
		// Started with --api-key (upstream keeps /v1/models public and answers
		// /props with 401), or an older build without total_slots in /props.
	case authError(e.propsA) && authError(e.modelsA) && e.llamaHdr && healthOK(ctx, src):
		// Started with --api-key, a build that also protects /v1/models: only
		// / and /health answer without the key.
		s.Settings["auth"] = "API key required"
		return s, true
	default:
		return Server{}, false
	}
	fillLlama(ctx, src, &s, e)
	markLlamafile(ctx, src, &s, e)
	return s, true
}

// fillLlama reads the model, context and slots of an identified llama-server.
func fillLlama(ctx context.Context, src source, s *Server, e llamaAnswers) {
	s.Models = e.models.ids()
	for _, m := range e.models.models() {
		if m.Status != nil { // router entries are handled apart
			continue
		}
		s.LoadedModel = string(*m.ID)
		if m.Meta != nil {
			settingInt(s.Settings, "n_ctx_train", int64(m.Meta.NCtxTrain))
			settingInt(s.Settings, "n_params", int64(m.Meta.NParams))
			settingInt(s.Settings, "model_size_bytes", int64(m.Meta.Size))
			s.CtxSize = int(m.Meta.NCtx)
			s.Quantization = string(m.Meta.Ftype)
		}
		break
	}
	if e.propsOK {
		fillLlamaProps(s, e.props)
	}
	if authError(e.propsA) {
		// /props and /slots need the key: slots stay unknown.
		s.Settings["auth"] = "API key required"
	} else if s.CtxSize == 0 || s.Slots == 0 {
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
}

func fillLlamaProps(s *Server, props llamaProps) {
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

// markLlamafile turns a llama-server into llamafile when its answers say so.
// llamafile's default server (0.9.3: a .llamafile, or llamafile --server) is
// a llama-server of early 2024: "Server: llama.cpp", a /props with user_name
// and assistant_name but no build_info, /v1/models owned by "llamacpp". Only
// its web UI at / names llamafile; when / does not (--path), the server is
// reported as llama.cpp with a note that it may be llamafile.
func markLlamafile(ctx context.Context, src source, s *Server, e llamaAnswers) {
	props := e.props
	marked := e.llamafileHdr != "" || strings.Contains(strings.ToLower(string(props.BuildInfo)), "llamafile") ||
		strings.HasPrefix(string(props.ModelPath), "/zip/")
	oldShape := e.propsOK && props.UserName != nil && props.AssistantName != nil && props.BuildInfo == ""
	if !marked && oldShape {
		root := src.get(ctx, "/")
		marked = root.ok() && strings.Contains(strings.ToLower(string(root.body)), "llamafile")
		if !marked {
			s.Settings["note"] = mayBeLlamafile
		}
	}
	if !marked {
		return
	}
	s.Kind = KindLlamafile
	if v, ok := strings.CutPrefix(e.llamafileHdr, "llamafile/"); ok {
		s.Version = v
	}
	setting(s.Settings, "server", e.llamafileHdr)
}

// mayBeLlamafile is the note on a llama-server whose answers are also those of
// llamafile's default server.
const mayBeLlamafile = "may be llamafile: /props has user_name and no build_info, as llamafile's server (and llama-server builds of early 2024) answer"

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

// llamaCards reports a model list in the shape of llama-server's: every model
// owned by "llamacpp" with a meta object giving the model's vocabulary and
// training context (what llama-server reads from the GGUF), none a router entry.
func llamaCards(l oaiList) bool {
	ms := l.models()
	for _, m := range ms {
		if !strings.EqualFold(string(m.OwnedBy), "llamacpp") || m.Status != nil ||
			m.Meta == nil || m.Meta.NVocab <= 0 || m.Meta.NCtxTrain <= 0 {
			return false
		}
	}
	return len(ms) > 0
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
	propsA := src.get(ctx, "/props?model="+url.QueryEscape(s.LoadedModel))
	if authError(propsA) {
		s.Settings["auth"] = "API key required"
	}
	props, ok := decodeObject[llamaProps](propsA)
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
