package engine

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
)

// Prompts are a marker word, filler words and a closing instruction:
//
//	"river the water light ... over green\n\nWrite a very long story ..."
//
// The marker starts with a different letter than the previous request's, so two
// consecutive requests differ at their first token and no prefix cache can serve
// one from the other; the filler after it is shuffled per request as well. The
// filler is made of blocks of the same 32 words: whole blocks are shuffled, the last
// partial block keeps the list's order. So a prompt's token count depends on its
// length only, not on the shuffle or the marker (all markers have five letters), and
// the calibration of one prompt holds for the next.

// markerWords are common five-letter English words with 20 different first letters.
var markerWords = [...]string{
	"after", "black", "cover", "dream", "earth", "field", "green", "horse", "light", "money",
	"night", "ocean", "plant", "quiet", "river", "sound", "table", "under", "voice", "water",
}

// fillerWords are common short English words, one token each in most vocabularies.
var fillerWords = [32]string{
	"the", "water", "river", "light", "over", "green", "field", "small", "house", "under",
	"sound", "north", "early", "horse", "paper", "clear", "night", "music", "warm", "road",
	"story", "wind", "table", "quick", "ocean", "island", "mountain", "city", "tree",
	"family", "school", "animal",
}

const closing = "\n\nWrite a very long story that uses every word above."

// nonceSource hands out markers and shuffle seeds; consecutive markers differ at
// their first letter.
type nonceSource struct {
	mu   sync.Mutex
	rng  *rand.Rand
	last int
}

// next returns a marker word and a seed for the filler's shuffle.
func (n *nonceSource) next() (string, uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.init()
	n.last = (n.last + 1 + n.rng.IntN(len(markerWords)-1)) % len(markerWords)
	return markerWords[n.last], n.rng.Uint64()
}

// nextExcept is next with a marker not in used, which it joins. With more
// requests than markers a marker repeats (the shuffled filler still differs).
func (n *nonceSource) nextExcept(used map[string]bool) (string, uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.init()
	free := make([]int, 0, len(markerWords))
	for i, w := range markerWords {
		if !used[w] && i != n.last {
			free = append(free, i)
		}
	}
	if len(free) == 0 {
		n.last = (n.last + 1 + n.rng.IntN(len(markerWords)-1)) % len(markerWords)
	} else {
		n.last = free[n.rng.IntN(len(free))]
	}
	used[markerWords[n.last]] = true
	return markerWords[n.last], n.rng.Uint64()
}

// init seeds the source on first use; n.mu is held.
func (n *nonceSource) init() {
	if n.rng != nil {
		return
	}
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		binary.LittleEndian.PutUint64(seed[:], math.Float64bits(rand.Float64()))
	}
	n.rng = rand.New(rand.NewChaCha8(seed))
	n.last = n.rng.IntN(len(markerWords))
}

// promptText builds the user message: the marker, words filler words, closing.
func promptText(marker string, seed uint64, words int) string {
	var b strings.Builder
	b.Grow(len(marker) + words*6 + len(closing))
	b.WriteString(marker)
	r := rand.New(rand.NewPCG(seed, 0x7970686f6e))
	perm := make([]int, len(fillerWords))
	whole := words / len(fillerWords) * len(fillerWords)
	for i := 0; i < words; i++ {
		if i%len(fillerWords) == 0 {
			for j := range perm {
				perm[j] = j
			}
			if i < whole {
				r.Shuffle(len(perm), func(a, c int) { perm[a], perm[c] = perm[c], perm[a] })
			}
		}
		b.WriteByte(' ')
		b.WriteString(fillerWords[perm[i%len(fillerWords)]])
	}
	b.WriteString(closing)
	return b.String()
}

// calibration predicts a chat prompt's token count from its filler length:
//
//	tokens = overhead + count(user message)   where the server tokenizes
//	tokens = base + perWord * words           elsewhere
//
// and learns from every response's prompt_tokens. With the chat-aware tokenize
// styles, count is the whole prompt and overhead is 0 unless the server disagrees.
type calibration struct {
	tokenize bool    // the server's tokenize endpoint counts prompts
	tokStyle string  // one of the tokStyle* constants
	overhead int     // tokens count misses (the chat template with content-only styles)
	base     float64 // tokens of a prompt without filler (linear mode)
	perWord  float64 // tokens per filler word (linear mode)
	source   string  // how it was calibrated, for the notes
	// prefix is the chat template's fixed prefix in tokens (0: unknown).
	prefix int
}

// Tokenize styles.
const (
	// llama.cpp: POST /apply-template {messages}, then POST /tokenize of the
	// prompt with special tokens: the exact prompt the completion will see.
	tokStyleLlamaChat = "llama.cpp /apply-template + /tokenize"
	// llama.cpp without /apply-template: the user message alone.
	tokStyleLlama = "llama.cpp /tokenize"
	// vLLM: POST /tokenize {model, messages, add_generation_prompt}.
	tokStyleVLLMChat = "/tokenize of the chat messages"
	// vLLM, SGLang: POST /tokenize {model, prompt}, the user message alone.
	tokStyleVLLM = "/tokenize of the message"
)

// defaultCalibration is used when nothing better is known: about 1.3 tokens per
// English word and a chat template of about 20 tokens.
func defaultCalibration() calibration {
	return calibration{base: 20, perWord: 1.3, source: "no calibration: an assumed 1.3 tokens per word"}
}

// wordsFor is the linear model's filler length for target tokens.
func (c calibration) wordsFor(target int) int {
	w := int(math.Round((float64(target) - c.base) / c.perWord))
	// However the server counted, a filler word is at least MinTokensPerWord
	// tokens: a prompt never grows past that (a server that reports a fixed
	// prompt_tokens would otherwise make it grow without bound).
	return min(max(w, 0), int(float64(max(target, 0))/MinTokensPerWord)+64)
}

// tokenizeResponse covers llama.cpp ({"tokens":[...]}) and vLLM/SGLang
// ({"count":N,"tokens":[...]}).
type tokenizeResponse struct {
	Tokens []json.RawMessage `json:"tokens"`
	Count  *int              `json:"count"`
}

// post sends a JSON body and decodes a JSON answer into out.
func (e *Engine) post(ctx context.Context, path string, body, out any) error {
	buf, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("engine: POST %s: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTokenizeTimeout)
	defer cancel()
	req, err := e.newRequest(ctx, http.MethodPost, path, bytes.NewReader(buf))
	if err != nil {
		return err
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("engine: POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %w", ErrNoTokenizer, newServerError(resp))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxTokenizeBody+1))
	if err != nil {
		return fmt.Errorf("engine: POST %s: %w", path, err)
	}
	if len(data) > MaxTokenizeBody {
		return fmt.Errorf("%w: POST %s: answer larger than %d bytes", ErrNoTokenizer, path, MaxTokenizeBody)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: POST %s: %v", ErrNoTokenizer, path, err)
	}
	return nil
}

// countTokens asks the server how many tokens a prompt with user message user has
// (style says whether the count covers the chat template).
func (e *Engine) countTokens(ctx context.Context, style, user string) (int, error) {
	msgs := []map[string]string{{"role": "user", "content": user}}
	var tr tokenizeResponse
	var err error
	switch style {
	case tokStyleLlamaChat:
		var tpl struct {
			Prompt *string `json:"prompt"`
		}
		if err = e.post(ctx, "/apply-template", map[string]any{"messages": msgs}, &tpl); err != nil {
			return 0, err
		}
		if tpl.Prompt == nil {
			return 0, fmt.Errorf("%w: POST /apply-template: no prompt in the answer", ErrNoTokenizer)
		}
		err = e.post(ctx, "/tokenize", map[string]any{"content": *tpl.Prompt, "add_special": true, "parse_special": true}, &tr)
	case tokStyleLlama:
		err = e.post(ctx, "/tokenize", map[string]any{"content": user, "add_special": false}, &tr)
	case tokStyleVLLMChat:
		err = e.post(ctx, "/tokenize", map[string]any{"model": e.Target.Model, "messages": msgs, "add_generation_prompt": true}, &tr)
	default:
		err = e.post(ctx, "/tokenize", map[string]any{"model": e.Target.Model, "prompt": user, "add_special_tokens": false}, &tr)
	}
	if err != nil {
		return 0, err
	}
	switch {
	case tr.Count != nil:
		return *tr.Count, nil
	case tr.Tokens != nil:
		return len(tr.Tokens), nil
	}
	return 0, fmt.Errorf("%w: POST /tokenize: no tokens in the answer", ErrNoTokenizer)
}

// tokenizeStyles lists the tokenize styles to try for the server kind, best first.
func (e *Engine) tokenizeStyles() []string {
	switch e.kind() {
	case KindLlamaCpp:
		return []string{tokStyleLlamaChat, tokStyleLlama}
	case KindVLLM:
		return []string{tokStyleVLLMChat, tokStyleVLLM}
	case KindSGLang:
		return []string{tokStyleVLLM}
	case KindOllama, KindLMStudio:
		return nil
	default:
		return []string{tokStyleLlamaChat, tokStyleLlama, tokStyleVLLMChat, tokStyleVLLM}
	}
}

// Prepare calibrates prompt sizing once: with the server's tokenize endpoint where
// it has one (llama.cpp, vLLM, SGLang), else from the prompt_tokens of two short
// probe requests. Calling it is optional: RunTest calls it when it has not run. An
// error leaves a default calibration in place (prompt lengths are then less exact,
// and each run says how far off it was); a later call tries again, unless the
// server left the calibration without any answer: that error is returned again.
func (e *Engine) Prepare(ctx context.Context) error {
	e.mu.Lock()
	done, calErr := e.prepared, e.calErr
	e.mu.Unlock()
	if done {
		return calErr
	}
	cal, err := e.calibrate(ctx)
	e.closeIdle()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cal = cal
	if err == nil || (ctx.Err() == nil && e.unanswered.Load() > 0) {
		// A calibration the server left unanswered is not tried again before
		// every test (each try would wait its whole deadline): the prompts are
		// sized from estimates and each test notes it. Other failures are
		// quick and may pass: the next test tries again.
		e.prepared = true
		e.calErr = err
	}
	return err
}

func (e *Engine) calibration() calibration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cal.perWord == 0 && !e.cal.tokenize {
		e.cal = defaultCalibration()
	}
	return e.cal
}

func (e *Engine) calibrate(ctx context.Context) (calibration, error) {
	log := e.logger()
	cal := defaultCalibration()
	var tokErr error
	for _, style := range e.tokenizeStyles() {
		if _, err := e.countTokens(ctx, style, "hello world"); err != nil {
			tokErr = err
			log.Debug("tokenize unavailable", "style", style, "err", err)
			if errors.Is(err, context.DeadlineExceeded) {
				break // a server that does not answer: no other style will
			}
			continue
		}
		cal.tokenize, cal.tokStyle = true, style
		break
	}
	if err := ctx.Err(); err != nil {
		return cal, fmt.Errorf("engine: prepare: %w", err)
	}
	// Two probes of one output token: a short and a longer prompt.
	nonce, seed := e.nonce.next()
	shortText := promptText(nonce, seed, 8)
	longWords := 8 + 8*len(fillerWords)
	longText := promptText(nonce, seed, longWords)
	var got [2]int
	for i, text := range []string{shortText, longText} {
		m := e.do(ctx, request{user: text, maxTokens: 1, ctxSize: 0, probe: true})
		if m.err != nil {
			return cal, fmt.Errorf("engine: prepare: calibration probe: %s: %w", m.kind, m.err)
		}
		if !m.haveUsage || m.promptTokens <= 0 {
			return cal, fmt.Errorf("engine: prepare: calibration probe: the server reports no prompt_tokens")
		}
		got[i] = m.promptTokens
	}
	if cal.tokenize {
		n, err := e.countTokens(ctx, cal.tokStyle, shortText)
		if err == nil && (got[0]-n < -64 || got[0]-n > MaxTemplateTokens) {
			err = fmt.Errorf("the tokenizer counts %d tokens where the server's usage says %d", n, got[0])
		}
		if err != nil {
			cal.tokenize = false
			tokErr = err
		} else {
			cal.overhead = got[0] - n
			cal.source = "prompt lengths fitted with the server's tokenizer (" + cal.tokStyle + ")"
			if cal.overhead != 0 {
				cal.source += fmt.Sprintf(", %+d tokens for the chat template", cal.overhead)
			}
		}
	}
	perWord := float64(got[1]-got[0]) / float64(longWords-8)
	if perWord >= MinTokensPerWord && perWord <= MaxTokensPerWord {
		cal.perWord = perWord
		cal.base = float64(got[0]) - 8*perWord
		if !cal.tokenize {
			cal.source = fmt.Sprintf("prompt lengths calibrated on the server's prompt_tokens (%.3f tokens per word, %.0f fixed); no /tokenize", cal.perWord, cal.base)
		}
	}
	if n, err := e.templatePrefix(ctx, cal.tokStyle); err == nil {
		cal.prefix = n
	} else {
		log.Debug("template prefix unknown", "err", err)
	}
	log.Debug("calibrated", "prefix", cal.prefix, "tokenize", cal.tokenize, "overhead", cal.overhead, "per_word", cal.perWord, "base", cal.base, "tokenize_err", tokErr)
	return cal, nil
}

// learn refines the calibration from a response: the prompt of words filler words
// (userTokens tokens by /tokenize, 0 if not counted) was actual tokens long.
func (e *Engine) learn(words, userTokens, actual int) {
	if actual <= 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := &e.cal
	if c.tokenize && userTokens > 0 {
		if o := actual - userTokens; o >= -64 && o <= MaxTemplateTokens {
			c.overhead = o
		}
		return
	}
	if c.perWord <= 0 {
		return
	}
	if words >= 4*len(fillerWords) {
		if pw := (float64(actual) - c.base) / float64(words); pw >= MinTokensPerWord && pw <= MaxTokensPerWord {
			c.perWord = pw
		}
	} else {
		c.base = float64(actual) - c.perWord*float64(words)
	}
}

// buildPrompt makes a user message whose chat prompt is target tokens long as
// near as the calibration allows. It returns the text, its filler length, the
// message's own token count (0 when not tokenized) and the predicted prompt tokens.
func (e *Engine) buildPrompt(ctx context.Context, nonce string, seed uint64, target int) (text string, words, userTokens, predicted int, err error) {
	cal := e.calibration()
	words = cal.wordsFor(target)
	if !cal.tokenize {
		text = promptText(nonce, seed, words)
		return text, words, 0, int(math.Round(cal.base + cal.perWord*float64(words))), nil
	}
	perWord := cal.perWord
	if perWord <= 0 {
		perWord = 1.3
	}
	best, bestWords, bestUser, bestDiff := "", 0, 0, math.MaxInt
	seen := map[int]bool{}
	for range 8 {
		if seen[words] {
			break
		}
		seen[words] = true
		t := promptText(nonce, seed, words)
		n, cerr := e.countTokens(ctx, cal.tokStyle, t)
		if cerr != nil {
			if best != "" {
				break
			}
			return promptText(nonce, seed, words), words, 0, int(math.Round(cal.base + cal.perWord*float64(words))), nil
		}
		diff := n + cal.overhead - target
		if abs(diff) < bestDiff {
			best, bestWords, bestUser, bestDiff = t, words, n, abs(diff)
		}
		if diff == 0 {
			break
		}
		step := int(math.Round(float64(-diff) / perWord))
		if step == 0 {
			step = -sign(diff)
		}
		words = min(max(words+step, 0), int(float64(max(target, 0))/MinTokensPerWord)+64)
	}
	if err := ctx.Err(); err != nil {
		return "", 0, 0, 0, err
	}
	return best, bestWords, bestUser, bestUser + cal.overhead, nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	// Cut at a rune boundary.
	for n > 0 && n < len(s) && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
