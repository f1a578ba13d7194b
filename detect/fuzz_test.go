package detect

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// fuzzPaths are every request the rules make: the first round and those asked
// afterwards.
var fuzzPaths = append(append([]string{}, firstPaths...),
	"/health", "/slots", "/models", "/props?model=", "/api/tags", "/api/ps", "/api/show",
	"/", "/get_model_info", "/server_info", "/get_server_info", "/api/v1/model", "/api/extra/true_max_context_length",
	"/v1/internal/model/list", "/v1/models/available", "/system", "/metrics")

// fuzzSource answers the fuzzed body at one path (or at every path) and the
// answers of a recorded file elsewhere, so that the fuzzer reaches the decoding
// of each answer with the other answers of a real server around it.
type fuzzSource struct {
	base   mapSource
	path   string
	all    bool
	status int
	body   []byte
}

func (f fuzzSource) hits(path string) bool {
	return f.all || path == f.path || (strings.HasSuffix(f.path, "=") && strings.HasPrefix(path, f.path))
}

func (f fuzzSource) answer() answer {
	return answer{status: f.status, header: http.Header{"Content-Type": {"application/json"}}, body: f.body}
}

func (f fuzzSource) get(ctx context.Context, path string) answer {
	if f.hits(path) {
		return f.answer()
	}
	return f.base.get(ctx, path)
}

func (f fuzzSource) post(ctx context.Context, path string, body []byte) answer {
	if f.hits(path) {
		return f.answer()
	}
	return f.base.post(ctx, path, body)
}

// FuzzDecodeAnswer feeds arbitrary answers to every decoder and to the whole
// identification, alone or among a recorded server's other answers. It checks
// that nothing panics, that identification is deterministic and that a server
// found has values in range and a printable table row. Seeds are in
// testdata/fuzz/FuzzDecodeAnswer (one per recorded answer); run with
// go test -fuzz=FuzzDecodeAnswer ./detect.
func FuzzDecodeAnswer(f *testing.F) {
	names := answerNames(f)
	files := make([]recorded, len(names))
	for i, n := range names {
		files[i] = loadRecorded(f, n)
	}
	f.Add(uint8(0), uint8(0), true, uint16(200), []byte(`{}`))
	f.Add(uint8(0), uint8(1), false, uint16(503), []byte(`{"error":{"message":"Loading model","type":"unavailable_error","code":503}}`))
	f.Fuzz(func(t *testing.T, file, path uint8, all bool, status uint16, body []byte) {
		decodeEverything(body)
		src := fuzzSource{
			path:   fuzzPaths[int(path)%len(fuzzPaths)],
			all:    all,
			status: 100 + int(status)%500,
			body:   body,
		}
		if !all {
			src.base = mapSource{files[int(file)%len(files)]}
		}
		s1, why1 := identifyFrom(context.Background(), src)
		s2, why2 := identifyFrom(context.Background(), src)
		if why1 != why2 || !cmp.Equal(s1, s2) {
			t.Fatalf("identification is not deterministic: %+v %q / %+v %q", s1, why1, s2, why2)
		}
		if why1 != "" {
			if s1.Kind != "" {
				t.Fatalf("a reason %q with a server %+v", why1, s1)
			}
			return
		}
		checkServer(t, s1)
	})
}

// decodeEverything runs every decoder over one body; none may panic.
func decodeEverything(body []byte) {
	a := answer{status: 200, header: http.Header{}, body: body}
	decodeModels(a)
	llamaLoading(answer{status: 503, body: body})
	decodeObject[llamaProps](a)
	decodeArray[llamaSlot](a)
	decodeObject[statusBody](a)
	decodeObject[versionBody](a)
	decodeOllamaList(a)
	if s, ok := decodeObject[ollamaShow](a); ok {
		s.numCtx()
		s.trainCtx()
	}
	decodeObject[sglangModelInfo](a)
	decodeObject[map[string]any](a)
	decodeObject[tgiInfo](a)
	decodeObject[lmsV0List](a)
	decodeObject[lmsV1List](a)
	decodeObject[koboldVersion](a)
	decodeObject[koboldResult](a)
	decodeObject[koboldValue](a)
	decodeObject[tgwuiModelList](a)
	decodeObject[tgwuiModelInfo](a)
	hasKeys(a, "model_name", "lora_names")
	decodeObject[openAPIDoc](a)
	decodeObject[janAvailable](a)
	decodeObject[localAIWellKnown](a)
	decodeObject[localAISystem](a)
}

// checkServer checks the invariants of a server found.
func checkServer(t *testing.T, s Server) {
	t.Helper()
	if displayNames[s.Kind] == "" || s.Name != displayNames[s.Kind] {
		t.Fatalf("kind %q, name %q", s.Kind, s.Name)
	}
	if s.CtxSize < 0 || s.CtxSize > 1<<30 || s.Slots < 0 || s.Slots > 1<<20 {
		t.Fatalf("out of range: ctx %d, slots %d", s.CtxSize, s.Slots)
	}
	if s.VRAMShare != nil && (math.IsNaN(*s.VRAMShare) || *s.VRAMShare < 0 || *s.VRAMShare > 1) {
		t.Fatalf("VRAM share %v", *s.VRAMShare)
	}
	if s.Models == nil {
		t.Fatal("Models is nil")
	}
	if s.LoadedModel != "" {
		found := false
		for _, m := range s.Models {
			found = found || m == s.LoadedModel
		}
		if !found {
			t.Fatalf("loaded model %q not in %q", s.LoadedModel, s.Models)
		}
	}
	for k, v := range s.Settings {
		if len(v) > 256 || !utf8.ValidString(v) || v == "" {
			t.Fatalf("setting %s = %q", k, v)
		}
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Server{s}); err != nil {
		t.Fatal(err)
	}
	for _, r := range buf.String() {
		if r != '\n' && (r < 0x20 || r == 0x7f) {
			t.Fatalf("table has control character %q:\n%s", r, buf.String())
		}
	}
	if lines := strings.Count(buf.String(), "\n"); lines != 2 {
		t.Fatalf("table of one server has %d lines:\n%s", lines, buf.String())
	}
}
