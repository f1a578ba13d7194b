// Package testmodel writes small GGUF models with seeded random weights, so that
// real inference servers (llama.cpp's llama-server, Ollama) can be tested on a CPU
// without downloading a model.
//
// The model is a llama-architecture transformer with F32 weights, a SentencePiece
// ("llama") tokenizer with byte fallback, and a chatml chat template. It generates
// gibberish, but its speed and timings are real.
//
// # Exactly max_tokens printable tokens
//
// A request for N tokens must give exactly N tokens, each of them printable text.
// The model therefore never emits end-of-sequence, a control token or a byte token
// (random bytes would be broken UTF-8, which servers hold back). Zeroing their rows of
// output.weight is enough for greedy decoding, but not for a server's default
// sampling (temperature 0.8, top-k 40, ...): a zero logit can beat many random ones.
// Instead, hidden dimension 0 carries a constant: every token embedding has the value
// EmbedBias there, and no layer writes to it (row 0 of attn_output and ffn_down is
// zero), so after the final RMS norm that dimension is a large positive number at
// every position. Column 0 of output.weight is +LogitBias for the allowed tokens (the
// ▁-prefixed word pieces) and -LogitBias for all others, whose other weights are zero.
// Every allowed token then out-scores every forbidden one by a wide margin, so top-k
// and min-p sampling discard the forbidden ones and greedy decoding never sees them.
package testmodel

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Defaults of a zero Config: a model of about 4 MB that llama-server decodes at a few
// hundred tokens per second on two CPU cores.
const (
	DefaultEmbd    = 128
	DefaultLayers  = 4
	DefaultHeads   = 4
	DefaultFF      = 384
	DefaultContext = 32768
	DefaultWords   = 200
	DefaultName    = "typhon-tiny"
)

// Constants of the weight layout; see the package documentation.
const (
	EmbedBias = 4.0 // value of hidden dimension 0 in every token embedding
	LogitBias = 4.0 // |output.weight[token][0]|: + for allowed tokens, - for the rest
	// logitNoise is the standard deviation of the random part of an allowed token's
	// logit: large enough that sampling picks varied words, small beside the bias.
	logitNoise = 2.5
)

// Config sizes the model. Zero fields take the defaults above.
type Config struct {
	Embd    int    // embedding width (llama.embedding_length)
	Layers  int    // transformer blocks (llama.block_count)
	Heads   int    // attention heads; Embd must be a multiple, Embd/Heads even
	HeadsKV int    // key/value heads (grouped-query attention); default Heads
	FF      int    // feed-forward width (llama.feed_forward_length)
	Context int    // training context length (llama.context_length)
	Words   int    // whole words in the vocabulary (with their prefixes); at least 40
	Seed    uint64 // seed of the random weights; the same Config writes the same bytes
	Name    string // general.name
}

// withDefaults fills zero fields and validates the result.
func (c Config) withDefaults() (Config, error) {
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.Embd, DefaultEmbd)
	def(&c.Layers, DefaultLayers)
	def(&c.Heads, DefaultHeads)
	def(&c.HeadsKV, c.Heads)
	def(&c.FF, DefaultFF)
	def(&c.Context, DefaultContext)
	def(&c.Words, DefaultWords)
	if c.Name == "" {
		c.Name = DefaultName
	}
	switch {
	case c.Embd < 2 || c.Layers < 1 || c.Heads < 1 || c.HeadsKV < 1 || c.FF < 1 || c.Context < 1:
		return c, fmt.Errorf("testmodel: sizes must be positive (embd %d, layers %d, heads %d, heads_kv %d, ff %d, context %d)",
			c.Embd, c.Layers, c.Heads, c.HeadsKV, c.FF, c.Context)
	case c.Embd%c.Heads != 0 || (c.Embd/c.Heads)%2 != 0:
		return c, fmt.Errorf("testmodel: embd %d must be a multiple of heads %d with an even head size", c.Embd, c.Heads)
	case c.Heads%c.HeadsKV != 0:
		return c, fmt.Errorf("testmodel: heads %d must be a multiple of heads_kv %d", c.Heads, c.HeadsKV)
	case c.Words < 40:
		// Below top-k 40, default sampling could reach a forbidden token.
		return c, fmt.Errorf("testmodel: words %d: need at least 40", c.Words)
	case c.Context > math.MaxUint32 || c.Embd > 1<<20 || c.FF > 1<<22 || c.Layers > 1<<10 || c.Words > 1<<20:
		return c, errors.New("testmodel: sizes out of range")
	}
	return c, nil
}

// tensor is one weight tensor: its name, GGUF dimensions (innermost first) and how
// to fill one row (dims[0] values) of it.
type tensor struct {
	name string
	dims []uint64
	fill func(row int, r *rand.Rand, out []float32)
}

func (t tensor) elems() uint64 {
	n := uint64(1)
	for _, d := range t.dims {
		n *= d
	}
	return n
}

// uniform fills out with values of mean 0 and standard deviation std.
func uniform(r *rand.Rand, out []float32, std float64) {
	a := float32(std * math.Sqrt(3))
	for i := range out {
		out[i] = (r.Float32()*2 - 1) * a
	}
}

func ones(_ int, _ *rand.Rand, out []float32) {
	for i := range out {
		out[i] = 1
	}
}

func random(std float64) func(int, *rand.Rand, []float32) {
	return func(_ int, r *rand.Rand, out []float32) { uniform(r, out, std) }
}

// residual fills a layer's output projection: random, but row 0 (the output's
// dimension 0) is zero so the constant dimension stays constant.
func residual(std float64) func(int, *rand.Rand, []float32) {
	return func(row int, r *rand.Rand, out []float32) {
		if row == 0 {
			clear(out)
			return
		}
		uniform(r, out, std)
	}
}

// model is a validated Config with its vocabulary and tensors.
type model struct {
	cfg     Config
	tokens  []string
	types   []int32
	scores  []float32
	allowed []bool
	tensors []tensor
}

func newModel(cfg Config) (*model, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &model{cfg: cfg}
	m.tokens, m.types, m.scores, m.allowed = vocabulary(cfg.Words)
	var (
		embd  = uint64(cfg.Embd)
		ff    = uint64(cfg.FF)
		vocab = uint64(len(m.tokens))
		kvDim = uint64(cfg.Embd / cfg.Heads * cfg.HeadsKV)
		in    = 1 / math.Sqrt(float64(cfg.Embd))
		// Each of the 2*Layers sublayers adds about 1/(2*Layers) of variance per
		// dimension, so the residual stream stays near unit size at any depth.
		sub = math.Sqrt(1 / float64(2*cfg.Layers))
	)
	add := func(name string, fill func(int, *rand.Rand, []float32), dims ...uint64) {
		m.tensors = append(m.tensors, tensor{name: name, dims: dims, fill: fill})
	}
	add("token_embd.weight", func(_ int, r *rand.Rand, out []float32) {
		uniform(r, out, 1)
		out[0] = EmbedBias
	}, embd, vocab)
	for l := 0; l < cfg.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		add(p+"attn_norm.weight", ones, embd)
		add(p+"attn_q.weight", random(in), embd, embd)
		add(p+"attn_k.weight", random(in), embd, kvDim)
		add(p+"attn_v.weight", random(in), embd, kvDim)
		add(p+"attn_output.weight", residual(sub*in), embd, embd)
		add(p+"ffn_norm.weight", ones, embd)
		add(p+"ffn_gate.weight", random(in), embd, ff)
		add(p+"ffn_up.weight", random(in), embd, ff)
		add(p+"ffn_down.weight", residual(2*sub/math.Sqrt(float64(cfg.FF))), ff, embd)
	}
	add("output_norm.weight", ones, embd)
	noise := logitNoise / math.Sqrt(float64(cfg.Embd-1))
	add("output.weight", func(row int, r *rand.Rand, out []float32) {
		if !m.allowed[row] {
			clear(out)
			out[0] = -LogitBias
			return
		}
		uniform(r, out, noise)
		out[0] = LogitBias
	}, embd, vocab)
	return m, nil
}

const chatTemplate = "{% for message in messages %}" +
	"{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}" +
	"{% endfor %}" +
	"{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

func (m *model) metadata() []kv {
	c := m.cfg
	return []kv{
		{"general.architecture", "llama"},
		{"general.name", c.Name},
		{"general.file_type", uint32(0)}, // all F32
		{"general.alignment", uint32(Alignment)},
		{"llama.vocab_size", uint32(len(m.tokens))},
		{"llama.context_length", uint32(c.Context)},
		{"llama.embedding_length", uint32(c.Embd)},
		{"llama.block_count", uint32(c.Layers)},
		{"llama.feed_forward_length", uint32(c.FF)},
		{"llama.attention.head_count", uint32(c.Heads)},
		{"llama.attention.head_count_kv", uint32(c.HeadsKV)},
		{"llama.rope.dimension_count", uint32(c.Embd / c.Heads)},
		{"llama.rope.freq_base", float32(10000)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", m.tokens},
		{"tokenizer.ggml.scores", m.scores},
		{"tokenizer.ggml.token_type", m.types},
		{"tokenizer.ggml.bos_token_id", uint32(BOSID)},
		{"tokenizer.ggml.eos_token_id", uint32(EOSID)},
		{"tokenizer.ggml.unknown_token_id", uint32(UnknownID)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
		{"tokenizer.chat_template", chatTemplate},
	}
}

// Write writes the GGUF model described by cfg to w.
func Write(w io.Writer, cfg Config) error {
	m, err := newModel(cfg)
	if err != nil {
		return err
	}
	e := &encoder{w: bufio.NewWriterSize(w, 1<<20)}
	meta := m.metadata()
	e.bytes([]byte(Magic))
	e.u32(Version)
	e.u64(uint64(len(m.tensors)))
	e.u64(uint64(len(meta)))
	for _, p := range meta {
		e.kv(p)
	}
	var off uint64
	for _, t := range m.tensors {
		e.str(t.name)
		e.u32(uint32(len(t.dims)))
		for _, d := range t.dims {
			e.u64(d)
		}
		e.u32(ggmlTypeF32)
		e.u64(off)
		off = alignUp(off+4*t.elems(), Alignment)
	}
	e.pad(Alignment)
	var (
		row []float32
		raw []byte
	)
	for i, t := range m.tensors {
		r := rand.New(rand.NewPCG(m.cfg.Seed, uint64(i)))
		width := int(t.dims[0])
		rows := int(t.elems() / t.dims[0])
		if cap(row) < width {
			row, raw = make([]float32, width), make([]byte, 4*width)
		}
		row, raw = row[:width], raw[:4*width]
		for j := 0; j < rows && e.err == nil; j++ {
			t.fill(j, r, row)
			for k, f := range row {
				binary.LittleEndian.PutUint32(raw[4*k:], math.Float32bits(f))
			}
			e.bytes(raw)
		}
		e.pad(Alignment)
	}
	if e.err != nil {
		return fmt.Errorf("testmodel: write: %w", e.err)
	}
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("testmodel: write: %w", err)
	}
	return nil
}

// WriteFile writes the model to path atomically: into a temporary file in the same
// directory, renamed into place once complete.
func WriteFile(path string, cfg Config) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	if err := Write(f, cfg); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	return nil
}

// Vocab returns the tokens of the model cfg describes, indexed by token id, and
// whether the model can generate each one.
func Vocab(cfg Config) (tokens []string, generated []bool, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	tokens, _, _, generated = vocabulary(cfg.Words)
	return tokens, generated, nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }
