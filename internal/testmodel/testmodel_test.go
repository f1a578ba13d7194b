package testmodel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func write(t *testing.T, cfg Config) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, cfg); err != nil {
		t.Fatalf("Write(%+v): %v", cfg, err)
	}
	return buf.Bytes()
}

func TestWriteRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want Config // with defaults filled
	}{
		{"defaults", Config{}, Config{Embd: 128, Layers: 4, Heads: 4, HeadsKV: 4, FF: 384, Context: 32768, Words: 200, Name: "typhon-tiny"}},
		{"grouped query attention", Config{Embd: 64, Layers: 2, Heads: 8, HeadsKV: 2, FF: 96, Context: 1024, Words: 40, Name: "gqa"},
			Config{Embd: 64, Layers: 2, Heads: 8, HeadsKV: 2, FF: 96, Context: 1024, Words: 40, Name: "gqa"}},
		// Rows of 36 and 100 floats are not multiples of the alignment: padding.
		{"unaligned sizes", Config{Embd: 36, Layers: 1, Heads: 2, FF: 100, Words: 41},
			Config{Embd: 36, Layers: 1, Heads: 2, HeadsKV: 2, FF: 100, Context: 32768, Words: 41, Name: "typhon-tiny"}},
		{"made-up words", Config{Embd: 32, Layers: 1, Heads: 1, FF: 32, Words: BuiltinWords + 30},
			Config{Embd: 32, Layers: 1, Heads: 1, HeadsKV: 1, FF: 32, Context: 32768, Words: BuiltinWords + 30, Name: "typhon-tiny"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := write(t, tc.cfg)
			f, err := Read(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if f.Version != 3 {
				t.Errorf("version = %d, want 3", f.Version)
			}
			if f.Size != int64(len(data)) {
				t.Errorf("Size = %d, want %d", f.Size, len(data))
			}
			if f.DataOffset%Alignment != 0 {
				t.Errorf("DataOffset = %d, not a multiple of %d", f.DataOffset, Alignment)
			}
			c := tc.want
			tokens, generated, err := Vocab(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			nv := uint32(len(tokens))
			wantMeta := map[string]any{
				"general.architecture":                   "llama",
				"general.name":                           c.Name,
				"general.file_type":                      uint32(0),
				"general.alignment":                      uint32(32),
				"llama.vocab_size":                       nv,
				"llama.context_length":                   uint32(c.Context),
				"llama.embedding_length":                 uint32(c.Embd),
				"llama.block_count":                      uint32(c.Layers),
				"llama.feed_forward_length":              uint32(c.FF),
				"llama.attention.head_count":             uint32(c.Heads),
				"llama.attention.head_count_kv":          uint32(c.HeadsKV),
				"llama.rope.dimension_count":             uint32(c.Embd / c.Heads),
				"llama.rope.freq_base":                   float32(10000),
				"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
				"tokenizer.ggml.model":                   "llama",
				"tokenizer.ggml.bos_token_id":            uint32(1),
				"tokenizer.ggml.eos_token_id":            uint32(2),
				"tokenizer.ggml.unknown_token_id":        uint32(0),
				"tokenizer.ggml.add_bos_token":           true,
				"tokenizer.ggml.add_eos_token":           false,
			}
			gotMeta := map[string]any{}
			for _, kv := range f.Metadata {
				if _, ok := wantMeta[kv.Key]; ok {
					gotMeta[kv.Key] = kv.Value
				}
			}
			if diff := cmp.Diff(wantMeta, gotMeta); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
			if got, want := len(f.Metadata), len(wantMeta)+4; got != want {
				t.Errorf("%d metadata entries, want %d", got, want)
			}
			checkTokenizer(t, f, tokens, generated)
			tmpl, _ := f.Lookup("tokenizer.chat_template")
			if s, _ := tmpl.(string); !strings.Contains(s, "<|im_start|>") || !strings.Contains(s, "add_generation_prompt") {
				t.Errorf("chat template = %q, want chatml", tmpl)
			}

			// Tensor table: names, shapes (innermost first), F32, aligned and packed.
			embd, ff, kv, vocab := uint64(c.Embd), uint64(c.FF), uint64(c.Embd/c.Heads*c.HeadsKV), uint64(nv)
			want := []TensorInfo{{Name: "token_embd.weight", Dims: []uint64{embd, vocab}}}
			for l := 0; l < c.Layers; l++ {
				p := fmt.Sprintf("blk.%d.", l)
				want = append(want,
					TensorInfo{Name: p + "attn_norm.weight", Dims: []uint64{embd}},
					TensorInfo{Name: p + "attn_q.weight", Dims: []uint64{embd, embd}},
					TensorInfo{Name: p + "attn_k.weight", Dims: []uint64{embd, kv}},
					TensorInfo{Name: p + "attn_v.weight", Dims: []uint64{embd, kv}},
					TensorInfo{Name: p + "attn_output.weight", Dims: []uint64{embd, embd}},
					TensorInfo{Name: p + "ffn_norm.weight", Dims: []uint64{embd}},
					TensorInfo{Name: p + "ffn_gate.weight", Dims: []uint64{embd, ff}},
					TensorInfo{Name: p + "ffn_up.weight", Dims: []uint64{embd, ff}},
					TensorInfo{Name: p + "ffn_down.weight", Dims: []uint64{ff, embd}},
				)
			}
			want = append(want,
				TensorInfo{Name: "output_norm.weight", Dims: []uint64{embd}},
				TensorInfo{Name: "output.weight", Dims: []uint64{embd, vocab}})
			var off uint64
			for i := range want {
				want[i].Offset = off
				n := uint64(4)
				for _, d := range want[i].Dims {
					n *= d
				}
				off = (off + n + Alignment - 1) / Alignment * Alignment
			}
			if diff := cmp.Diff(want, f.Tensors); diff != "" {
				t.Errorf("tensors (-want +got):\n%s", diff)
			}
			if got, want := uint64(len(data))-uint64(f.DataOffset), off; got != want {
				t.Errorf("tensor data is %d bytes, want %d", got, want)
			}
		})
	}
}

func checkTokenizer(t *testing.T, f *File, tokens []string, generated []bool) {
	t.Helper()
	gotTokens, _ := f.Lookup("tokenizer.ggml.tokens")
	if diff := cmp.Diff(tokens, gotTokens); diff != "" {
		t.Errorf("tokens (-Vocab +file):\n%s", diff)
	}
	types, _ := f.Lookup("tokenizer.ggml.token_type")
	scores, _ := f.Lookup("tokenizer.ggml.scores")
	ty, _ := types.([]int32)
	sc, _ := scores.([]float32)
	if len(ty) != len(tokens) || len(sc) != len(tokens) {
		t.Fatalf("%d token types and %d scores for %d tokens", len(ty), len(sc), len(tokens))
	}
	seen := map[string]bool{}
	for id, tok := range tokens {
		var wantType int32
		switch {
		case id == UnknownID:
			wantType = tokenUnknown
		case id == BOSID || id == EOSID:
			wantType = tokenControl
		case id < 3+256:
			wantType = tokenByte
			if want := fmt.Sprintf("<0x%02X>", id-3); tok != want {
				t.Errorf("token %d = %q, want %q", id, tok, want)
			}
		default:
			wantType = tokenNormal
		}
		if ty[id] != wantType {
			t.Errorf("token %d %q has type %d, want %d", id, tok, ty[id], wantType)
		}
		if seen[tok] {
			t.Errorf("token %q appears twice", tok)
		}
		seen[tok] = true
		// Generated tokens decode to a space and a lower-case word piece.
		wantGen := strings.HasPrefix(tok, spaceMark) && len(tok) > len(spaceMark)
		if generated[id] != wantGen {
			t.Errorf("token %d %q: generated = %v, want %v", id, tok, generated[id], wantGen)
		}
	}
	for _, name := range []string{"<unk>", "<s>", "</s>"} {
		if !seen[name] {
			t.Errorf("no token %q", name)
		}
	}
	// Every prefix of a word is a piece, so SentencePiece can merge up to the word.
	for tok := range seen {
		if w, ok := strings.CutPrefix(tok, spaceMark); ok {
			for j := 1; j < len(w); j++ {
				if !seen[spaceMark+w[:j]] {
					t.Errorf("piece %q lacks its prefix %q", tok, spaceMark+w[:j])
				}
			}
		}
	}
}

// TestWeightLayout checks the rows that keep end-of-sequence, control and byte
// tokens from ever being generated (see the package documentation).
func TestWeightLayout(t *testing.T) {
	t.Parallel()
	cfg := Config{Embd: 32, Layers: 2, Heads: 2, FF: 48, Words: 50}
	data := write(t, cfg)
	f, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	_, generated, err := Vocab(cfg)
	if err != nil {
		t.Fatal(err)
	}
	row := func(name string, r int) []float32 {
		t.Helper()
		ti, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %s", name)
		}
		w := int(ti.Dims[0])
		start := int(f.DataOffset) + int(ti.Offset) + 4*w*r
		out := make([]float32, w)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[start+4*i:]))
		}
		return out
	}
	zero := make([]float32, cfg.Embd-1)
	for id, gen := range generated {
		out := row("output.weight", id)
		switch {
		case gen && out[0] != LogitBias:
			t.Errorf("output.weight row %d [0] = %v, want %v", id, out[0], LogitBias)
		case !gen && out[0] != -LogitBias:
			t.Errorf("output.weight row %d [0] = %v, want %v", id, out[0], -LogitBias)
		case !gen && !cmp.Equal(out[1:], zero):
			t.Errorf("output.weight row %d of a token never generated = %v, want zeros after [0]", id, out)
		case gen && cmp.Equal(out[1:], zero):
			t.Errorf("output.weight row %d of a generated token is all zero", id)
		}
		if e := row("token_embd.weight", id); e[0] != EmbedBias {
			t.Errorf("token_embd row %d [0] = %v, want %v", id, e[0], EmbedBias)
		}
	}
	for l := 0; l < cfg.Layers; l++ {
		for _, name := range []string{"attn_output", "ffn_down"} {
			n := fmt.Sprintf("blk.%d.%s.weight", l, name)
			r0 := row(n, 0)
			if !cmp.Equal(r0, make([]float32, len(r0))) {
				t.Errorf("%s row 0 = %v, want zeros (dimension 0 stays constant)", n, r0)
			}
			if r1 := row(n, 1); cmp.Equal(r1, make([]float32, len(r1))) {
				t.Errorf("%s row 1 is all zero, want random", n)
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	cfg := Config{Embd: 32, Layers: 1, Heads: 2, FF: 32, Words: 40, Seed: 7}
	a, b := write(t, cfg), write(t, cfg)
	if !bytes.Equal(a, b) {
		t.Errorf("two writes of the same config differ")
	}
	cfg.Seed = 8
	if c := write(t, cfg); bytes.Equal(a, c) {
		t.Errorf("seeds 7 and 8 wrote the same bytes")
	}
}

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative layers", Config{Layers: -1}, "positive"},
		{"embd not a multiple of heads", Config{Embd: 100, Heads: 3}, "multiple of heads"},
		{"odd head size", Config{Embd: 12, Heads: 4}, "even head size"},
		{"heads not a multiple of kv heads", Config{Heads: 4, HeadsKV: 3}, "heads_kv"},
		{"too few words", Config{Words: 39}, "at least 40"},
		{"embd of one", Config{Embd: 1, Heads: 1}, "positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			err := Write(&buf, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	good := write(t, Config{Embd: 32, Layers: 1, Heads: 2, FF: 32, Words: 40})
	f, err := Read(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	patch := func(off int, b ...byte) []byte {
		out := bytes.Clone(good)
		copy(out[off:], b)
		return out
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "unexpected EOF"},
		{"bad magic", patch(0, 'G', 'G', 'M', 'L'), "magic"},
		{"version 2", patch(4, 2), "version 2"},
		{"huge tensor count", patch(8, 0xff, 0xff, 0xff, 0xff), "implausible"},
		{"cut in the metadata", good[:200], "unexpected EOF"},
		{"cut in the tensor table", good[:f.DataOffset-40], "unexpected EOF"},
		{"cut in the tensor data", good[:len(good)-100], "tensor data is"},
		{"only the header", good[:f.DataOffset], "tensor data is 0 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Read(bytes.NewReader(tc.data))
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read = %v, want an ErrFormat error containing %q", err, tc.want)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	cfg := Config{Embd: 32, Layers: 1, Heads: 2, FF: 32, Words: 40}
	if err := WriteFile(path, cfg); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	if got, want := f.Size, int64(len(write(t, cfg))); got != want {
		t.Errorf("file is %d bytes, want %d", got, want)
	}
	// A failed write leaves nothing behind.
	if err := WriteFile(filepath.Join(dir, "bad.gguf"), Config{Words: 1}); err == nil {
		t.Errorf("WriteFile with 1 word succeeded")
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*"))
	if diff := cmp.Diff([]string{path}, entries); diff != "" {
		t.Errorf("files in the directory (-want +got):\n%s", diff)
	}
}

func TestWordAt(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	for i := 0; i < BuiltinWords+3000; i++ {
		w := wordAt(i)
		if w == "" || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("wordAt(%d) = %q, want lower-case letters", i, w)
		}
		if j, ok := seen[w]; ok {
			t.Fatalf("wordAt(%d) = wordAt(%d) = %q", i, j, w)
		}
		seen[w] = i
	}
}
