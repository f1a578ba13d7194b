package detect

import (
	"context"
	"net/url"
	"strings"
)

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
