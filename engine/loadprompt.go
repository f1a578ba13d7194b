package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// promptMaker hands out the requests of a load sweep: each prompt starts with
// its own marker and filler order, so no prefix cache serves it (unless a
// shared prefix is asked for), and is sized by the calibrated filler length
// found once for the mean input, so that building it costs the server nothing.
type promptMaker struct {
	e        *Engine
	o        LoadOptions
	words    int     // filler words of the mean input (after the prefix)
	perWord  float64 // tokens per filler word
	predict  int     // predicted prompt tokens of the mean input
	prefix   string  // shared prefix, "" when none
	ctxSize  int     // num_ctx (Ollama)
	note     string
	mu       sync.Mutex
	rng      *rand.Rand
	maxInput int
}

// newPromptMaker sizes the prompts of o: one exact fit of the mean input with
// the server's tokenizer where it has one.
func (e *Engine) newPromptMaker(ctx context.Context, o LoadOptions) (*promptMaker, error) {
	in := o.input()
	pm := &promptMaker{e: e, o: o, rng: newRand(o.Seed)}
	nonce, seed := e.nonce.next()
	_, words, _, predicted, err := e.buildPrompt(ctx, nonce, seed, in)
	if err != nil {
		return nil, err
	}
	pm.words, pm.predict = words, predicted
	pm.perWord = e.calibration().perWord
	if pm.perWord <= 0 {
		pm.perWord = 1.3
	}
	if o.SharedPrefix > 0 {
		pw := int(math.Round(float64(o.SharedPrefix) / pm.perWord))
		pm.prefix = promptText("Shared", 0x7072656669780a, pw) + "\n"
		pm.words = max(words-pw, 1)
	}
	pm.maxInput = in + 4*o.InputStdev
	pm.ctxSize = o.CtxSize
	if pm.ctxSize == 0 {
		need := pm.maxInput + o.output() + 4*o.OutputStdev + 64
		pm.ctxSize = max(BaselineCtx, (need+255)/256*256)
	}
	pm.note = fmt.Sprintf("prompts of %d tokens (%s), %d output tokens each; every prompt starts with its own marker (cache-cold)",
		in, e.calibration().source, o.output())
	if o.InputStdev > 0 || o.OutputStdev > 0 {
		pm.note += fmt.Sprintf("; lengths drawn from normal distributions (stdev %d input, %d output tokens), input lengths fitted by the calibration", o.InputStdev, o.OutputStdev)
	}
	if pm.prefix != "" {
		pm.note += fmt.Sprintf("; every prompt starts with the same prefix of about %d tokens, which the server may cache", o.SharedPrefix)
	}
	return pm, nil
}

func newRand(seed uint64) *rand.Rand {
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return rand.New(rand.NewPCG(seed, 0x6c6f6164))
}

// next returns the next request to send.
func (pm *promptMaker) next() request {
	nonce, seed := pm.e.nonce.next()
	words, predict, out := pm.words, pm.predict, pm.o.output()
	if pm.o.InputStdev > 0 || pm.o.OutputStdev > 0 {
		pm.mu.Lock()
		dIn := pm.rng.NormFloat64() * float64(pm.o.InputStdev)
		dOut := pm.rng.NormFloat64() * float64(pm.o.OutputStdev)
		pm.mu.Unlock()
		dIn = max(min(dIn, float64(pm.maxInput-pm.o.input())), float64(8-predict))
		words = max(words+int(math.Round(dIn/pm.perWord)), 1)
		predict += int(math.Round(dIn))
		out = max(out+int(math.Round(dOut)), 1)
	}
	user := promptText(nonce, seed, words)
	if pm.prefix != "" {
		user = pm.prefix + user
	}
	return request{user: user, maxTokens: out, ctxSize: pm.ctxSize, warm: pm.prefix != "", promptTokens: predict}
}
