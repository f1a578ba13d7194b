package detect

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// The decoders below read each server's documented answers. They are lenient
// about optional fields (a number sent as a string, a null, a field of another
// type reads as zero) and strict about shape: an answer that is not the JSON
// object or array a rule needs does not match that rule.

// jint is an integer field that tolerates floats, numeric strings and nulls; any
// other value reads as 0.
type jint int64

func (n *jint) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err == nil {
		if !math.IsNaN(f) && f > -1e15 && f < 1e15 {
			*n = jint(f)
		}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil && v > -1e15 && v < 1e15 {
			*n = jint(v)
		}
	}
	return nil
}

// jstr is a string field; any other JSON value reads as "".
type jstr string

func (s *jstr) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err == nil {
		*s = jstr(v)
	}
	return nil
}

// jbool is a boolean field; any other JSON value reads as false.
type jbool bool

func (v *jbool) UnmarshalJSON(b []byte) error {
	var x bool
	if err := json.Unmarshal(b, &x); err == nil {
		*v = jbool(x)
	}
	return nil
}

// decodeObject decodes a 2xx answer whose body is a JSON object.
func decodeObject[T any](a answer) (T, bool) {
	var v T
	if !a.ok() {
		return v, false
	}
	return decodeObjectBody[T](a.body)
}

// jsonBody trims the white space and the UTF-8 byte order mark (which JSON
// readers may ignore, and some servers send) around a body.
func jsonBody(body []byte) []byte {
	return bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(body), []byte("\xef\xbb\xbf")))
}

func decodeObjectBody[T any](body []byte) (T, bool) {
	var v T
	b := jsonBody(body)
	if len(b) == 0 || b[0] != '{' {
		return v, false
	}
	if err := json.Unmarshal(b, &v); err != nil {
		var zero T
		return zero, false
	}
	return v, true
}

// decodeArray decodes a 2xx answer whose body is a JSON array.
func decodeArray[T any](a answer) ([]T, bool) {
	if !a.ok() {
		return nil, false
	}
	b := jsonBody(a.body)
	if len(b) == 0 || b[0] != '[' {
		return nil, false
	}
	var v []T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, false
	}
	return v, true
}

// hasKeys reports whether a 2xx JSON-object answer has every key.
func hasKeys(a answer, keys ...string) bool {
	m, ok := decodeObject[map[string]json.RawMessage](a)
	if !ok {
		return false
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

// --- OpenAI-style /v1/models (every kind serves one) ---

type oaiModel struct {
	ID          *jstr `json:"id"`
	Object      jstr  `json:"object"`
	OwnedBy     jstr  `json:"owned_by"`
	Root        jstr  `json:"root"`
	Parent      jstr  `json:"parent"`
	MaxModelLen jint  `json:"max_model_len"` // vLLM, SGLang
	// vLLM: ModelPermission objects; kept raw so that an odd value elsewhere
	// does not spoil the list.
	Permission json.RawMessage `json:"permission"`
	// llama-server: meta of the loaded model (null while loading).
	Meta *struct {
		NVocab    jint `json:"n_vocab"`
		NCtx      jint `json:"n_ctx"`
		NCtxTrain jint `json:"n_ctx_train"`
		NParams   jint `json:"n_params"`
		Size      jint `json:"size"`
		Ftype     jstr `json:"ftype"`
	} `json:"meta"`
	// llama-server in router mode: the state of each model.
	Status *struct {
		Value jstr `json:"value"`
	} `json:"status"`
}

type oaiList struct {
	Object jstr        `json:"object"`
	Data   *[]oaiModel `json:"data"`
}

// decodeModels reads an OpenAI model list: an object whose "data" is an array
// of objects each with a non-empty string id.
func decodeModels(a answer) (oaiList, bool) {
	if a.models == nil || !a.ok() {
		return readModels(a)
	}
	a.models.once.Do(func() { a.models.list, a.models.ok = readModels(a) })
	return a.models.list, a.models.ok
}

func readModels(a answer) (oaiList, bool) {
	l, ok := decodeObject[oaiList](a)
	if !ok || l.Data == nil {
		return oaiList{}, false
	}
	for _, m := range *l.Data {
		if m.ID == nil || *m.ID == "" {
			return oaiList{}, false
		}
	}
	return l, true
}

func (l oaiList) models() []oaiModel {
	if l.Data == nil {
		return nil
	}
	return *l.Data
}

func (l oaiList) ids() []string {
	var out []string
	for _, m := range l.models() {
		out = appendUnique(out, string(*m.ID))
	}
	return uniqueNames(out, maxNamesRead)
}

func (l oaiList) ownedBy(owner string) bool {
	for _, m := range l.models() {
		if strings.EqualFold(string(m.OwnedBy), owner) {
			return true
		}
	}
	return false
}

// apiError is the OpenAI-style error body ({"error": {"message", "type"}}).
type apiError struct {
	Error *struct {
		Message jstr `json:"message"`
		Type    jstr `json:"type"`
		Code    jint `json:"code"`
	} `json:"error"`
}

// llamaLoading reports llama-server's answer while it loads its model: 503
// {"error": {"message": "Loading model", "type": "unavailable_error"}}.
func llamaLoading(a answer) bool {
	if a.err != nil || a.status != 503 {
		return false
	}
	e, ok := decodeObjectBody[apiError](a.body)
	return ok && e.Error != nil && e.Error.Type == "unavailable_error" &&
		strings.Contains(strings.ToLower(string(e.Error.Message)), "loading")
}

// --- llama.cpp llama-server ---

type llamaProps struct {
	DefaultGenerationSettings *struct {
		NCtx  jint `json:"n_ctx"`
		Model jstr `json:"model"` // older builds
	} `json:"default_generation_settings"`
	TotalSlots *jint `json:"total_slots"`
	ModelPath  jstr  `json:"model_path"`
	ModelAlias jstr  `json:"model_alias"`
	ModelFtype jstr  `json:"model_ftype"`
	BuildInfo  jstr  `json:"build_info"`
	IsSleeping jbool `json:"is_sleeping"`
	// llama-server builds of early 2024, and llamafile's server.
	UserName      *jstr `json:"user_name"`
	AssistantName *jstr `json:"assistant_name"`
}

type llamaSlot struct {
	ID   jint `json:"id"`
	NCtx jint `json:"n_ctx"`
}

type statusBody struct {
	Status jstr `json:"status"`
}

// --- Ollama ---

type versionBody struct {
	Version *jstr `json:"version"`
}

type ollamaDetails struct {
	Format            jstr `json:"format"`
	Family            jstr `json:"family"`
	ParameterSize     jstr `json:"parameter_size"`
	QuantizationLevel jstr `json:"quantization_level"`
}

type ollamaModel struct {
	Name          jstr          `json:"name"`
	Model         jstr          `json:"model"`
	Size          jint          `json:"size"`
	SizeVRAM      *jint         `json:"size_vram"`
	ContextLength jint          `json:"context_length"`
	ExpiresAt     jstr          `json:"expires_at"`
	Digest        jstr          `json:"digest"`
	Details       ollamaDetails `json:"details"`
}

func (m ollamaModel) name() string {
	if m.Name != "" {
		return string(m.Name)
	}
	return string(m.Model)
}

type ollamaList struct {
	Models *[]ollamaModel `json:"models"`
}

func decodeOllamaList(a answer) ([]ollamaModel, bool) {
	l, ok := decodeObject[ollamaList](a)
	if !ok || l.Models == nil {
		return nil, false
	}
	return *l.Models, true
}

type ollamaShow struct {
	Parameters jstr                       `json:"parameters"`
	ModelInfo  map[string]json.RawMessage `json:"model_info"`
	Details    ollamaDetails              `json:"details"`
}

// numCtx reads "num_ctx N" out of /api/show's parameters text.
func (s ollamaShow) numCtx() int {
	for _, line := range strings.Split(string(s.Parameters), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "num_ctx" {
			if n, err := strconv.Atoi(f[1]); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// trainCtx reads "<architecture>.context_length" out of model_info.
func (s ollamaShow) trainCtx() int {
	var arch string
	if raw, ok := s.ModelInfo["general.architecture"]; ok {
		_ = json.Unmarshal(raw, &arch)
	}
	keys := []string{arch + ".context_length"}
	for k := range s.ModelInfo {
		if strings.HasSuffix(k, ".context_length") && k != keys[0] {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		var n jint
		if raw, ok := s.ModelInfo[k]; ok {
			_ = n.UnmarshalJSON(raw)
			if n > 0 {
				return clampCtx(int64(n))
			}
		}
	}
	return 0
}

// --- SGLang ---

type sglangModelInfo struct {
	ModelPath     *jstr `json:"model_path"`
	TokenizerPath jstr  `json:"tokenizer_path"`
	IsGeneration  jbool `json:"is_generation"`
	WeightVersion jstr  `json:"weight_version"`
}

// --- TGI ---

type tgiInfo struct {
	ModelID               jstr `json:"model_id"`
	ModelSHA              jstr `json:"model_sha"`
	ModelDtype            jstr `json:"model_dtype"`
	ModelDeviceType       jstr `json:"model_device_type"`
	MaxConcurrentRequests jint `json:"max_concurrent_requests"`
	MaxInputTokens        jint `json:"max_input_tokens"`
	MaxInputLength        jint `json:"max_input_length"` // before 2.0
	MaxTotalTokens        jint `json:"max_total_tokens"`
	MaxBatchTotalTokens   jint `json:"max_batch_total_tokens"`
	Router                jstr `json:"router"`
	Version               jstr `json:"version"`
	SHA                   jstr `json:"sha"`
	DockerLabel           jstr `json:"docker_label"`
}

// --- LM Studio ---

type lmsV0Model struct {
	ID                  jstr  `json:"id"`
	Type                jstr  `json:"type"`
	Publisher           jstr  `json:"publisher"`
	Arch                jstr  `json:"arch"`
	CompatibilityType   *jstr `json:"compatibility_type"`
	Quantization        jstr  `json:"quantization"`
	State               *jstr `json:"state"`
	MaxContextLength    jint  `json:"max_context_length"`
	LoadedContextLength jint  `json:"loaded_context_length"`
}

type lmsV0List struct {
	Object jstr          `json:"object"`
	Data   *[]lmsV0Model `json:"data"`
}

type lmsV1Model struct {
	Type         jstr  `json:"type"`
	Publisher    jstr  `json:"publisher"`
	Key          *jstr `json:"key"`
	Architecture jstr  `json:"architecture"`
	Quantization *struct {
		Name jstr `json:"name"`
	} `json:"quantization"`
	LoadedInstances *[]struct {
		ID     jstr `json:"id"`
		Config struct {
			ContextLength jint `json:"context_length"`
		} `json:"config"`
	} `json:"loaded_instances"`
	MaxContextLength jint `json:"max_context_length"`
	Format           jstr `json:"format"`
}

type lmsV1List struct {
	Models *[]lmsV1Model `json:"models"`
}

// --- KoboldCpp ---

type koboldVersion struct {
	Result    jstr  `json:"result"`
	Version   jstr  `json:"version"`
	Protected jbool `json:"protected"`
}

type koboldResult struct {
	Result *jstr `json:"result"`
}

type koboldValue struct {
	Value jint `json:"value"`
}

// --- text-generation-webui ---

type tgwuiModelList struct {
	ModelNames *[]jstr `json:"model_names"`
}

type tgwuiModelInfo struct {
	ModelName jstr   `json:"model_name"`
	LoraNames []jstr `json:"lora_names"`
	Loader    jstr   `json:"loader"`
}

// --- Jan ---

type openAPIDoc struct {
	OpenAPI jstr `json:"openapi"`
	Info    *struct {
		Title   jstr `json:"title"`
		Version jstr `json:"version"`
	} `json:"info"`
}

type janAvailable struct {
	Data *[]struct {
		ID     jstr `json:"id"`
		Status jstr `json:"status"`
	} `json:"data"`
}

// --- LocalAI ---

type localAIWellKnown struct {
	Version   jstr                       `json:"version"`
	Endpoints map[string]json.RawMessage `json:"endpoints"`
}

type localAISystem struct {
	Backends     *[]jstr `json:"backends"`
	LoadedModels *[]struct {
		ID jstr `json:"id"`
	} `json:"loaded_models"`
}

// --- helpers ---

// appendUnique appends a trimmed, non-empty name. Duplicates are dropped by
// uniqueNames once a list is complete: checking each append against the list
// would cost a server's list of a hundred thousand names minutes.
func appendUnique(list []string, s string) []string {
	s = strings.TrimSpace(s)
	if s == "" || len(list) >= maxNamesRead {
		return list
	}
	return append(list, s)
}

// MaxModels is the most model names a Server lists; Settings["models_listed"]
// says how many the server listed when there were more.
const MaxModels = 4096

// maxNamesRead bounds a list of names read from one answer.
const maxNamesRead = 1 << 17

// uniqueNames drops repeated names, keeping the first of each, and cuts the
// list to max names.
func uniqueNames(list []string, max int) []string {
	seen := make(map[string]bool, len(list))
	out := list[:0:0]
	for _, s := range list {
		if !seen[s] && len(out) < max {
			out = append(out, s)
		}
		seen[s] = true
	}
	return out
}

// clampCtx keeps a context size in [0, 1<<30].
func clampCtx(n int64) int {
	if n <= 0 {
		return 0
	}
	if n > 1<<30 {
		return 1 << 30
	}
	return int(n)
}

// setting stores a non-empty value, trimmed and cut to 256 bytes.
func setting(m map[string]string, key, value string) {
	value = strings.TrimSpace(value)
	if value == "" {
		return
	}
	if len(value) > 256 {
		value = strings.ToValidUTF8(value[:256], "")
	}
	m[key] = value
}

func settingInt(m map[string]string, key string, v int64) {
	if v > 0 {
		m[key] = strconv.FormatInt(v, 10)
	}
}
