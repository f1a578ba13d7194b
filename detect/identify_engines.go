package detect

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
)

// --- vLLM ---

func matchVLLM(ctx context.Context, src source) (Server, bool) {
	models, ok := decodeModels(src.get(ctx, "/v1/models"))
	if !ok || !models.ownedBy("vllm") {
		return Server{}, false
	}
	// The second answer: /version, or, behind a proxy that lets only /v1
	// through, the vLLM model cards themselves (ModelPermission objects).
	ver, verOK := decodeObject[versionBody](src.get(ctx, "/version"))
	verOK = verOK && ver.Version != nil
	if !verOK && !vllmCards(models) {
		return Server{}, false
	}
	s := Server{Kind: KindVLLM, Models: models.ids(), Settings: map[string]string{}}
	if verOK {
		s.Version = string(*ver.Version)
	}
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

// vllmCards reports a model list in the shape of vLLM's ModelCard: owned by
// "vllm", each with a permission list of "model_permission" objects whose ids
// start with "modelperm-".
func vllmCards(l oaiList) bool {
	found := false
	for _, m := range l.models() {
		if !strings.EqualFold(string(m.OwnedBy), "vllm") {
			return false
		}
		var perms []struct {
			ID     jstr `json:"id"`
			Object jstr `json:"object"`
		}
		if json.Unmarshal(m.Permission, &perms) != nil {
			return false
		}
		for _, p := range perms {
			if p.Object != "model_permission" || !strings.HasPrefix(string(p.ID), "modelperm-") {
				return false
			}
			found = true
		}
	}
	return found
}

// --- SGLang ---

// sglangGet asks SGLang's path, then its deprecated alias ("/get_" + path):
// SGLang 0.5 serves /model_info and /server_info and keeps /get_model_info and
// /get_server_info as aliases to be removed; older ones have only the aliases.
func sglangGet[T any](ctx context.Context, src source, path string) (T, bool) {
	if v, ok := decodeObject[T](src.get(ctx, "/"+path)); ok {
		return v, true
	}
	return decodeObject[T](src.get(ctx, "/get_"+path))
}

func matchSGLang(ctx context.Context, src source) (Server, bool) {
	info, ok := sglangGet[sglangModelInfo](ctx, src, "model_info")
	if !ok || info.ModelPath == nil || *info.ModelPath == "" {
		return Server{}, false
	}
	models, modelsOK := decodeModels(src.get(ctx, "/v1/models"))
	srvInfo, infoOK := sglangGet[map[string]json.RawMessage](ctx, src, "server_info")
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
