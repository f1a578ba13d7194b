package engine

import (
	"fmt"
	"time"

	"github.com/typhonbench/typhon/internal/stats"
	"github.com/typhonbench/typhon/schema"
)

// PromptSlack is how many tokens a prompt may miss its target by without a
// warning, besides 1% of the target: a short prompt cannot always hit its target
// exactly when a word is several tokens.
const PromptSlack = 4

// Thresholds of an honest decode span.
const (
	// MinTokenSpan is the shortest time per output token a decode span may show:
	// below it the tokens came in one burst (buffered), not as they were made.
	MinTokenSpan = 100 * time.Microsecond
	// BurstPause is the pause between bursts that marks a buffered stream when
	// nearly all other gaps are nil: a buffer's flush period, longer than a busy
	// client's delays in reading.
	BurstPause = 20 * time.Millisecond
	// TokenMismatchTolerance is how far the chunks' token counts may sum from
	// usage's count, as a share of it (at least one token), before the run is
	// excluded as token_mismatch.
	TokenMismatchTolerance = 0.02
	// MaxTokensPerChunk is the most tokens a chunk is taken to hold on average
	// when the server gives no per-chunk counts; more means tokens the stream
	// did not show, and the run is excluded as token_mismatch.
	MaxTokensPerChunk = 8
	// TruncatedShare is how far below the prompt sent the server's prompt_tokens
	// may fall before the run counts as truncated: 10%.
	TruncatedShare = 0.10
)

// sampleSpec is what a request was asked for, to judge what it got.
type sampleSpec struct {
	promptTarget    int
	promptPredicted int // Typhon's own count of the prompt
	maxTokens       int
	warm            bool // the test asked for a warm cache
	// templatePrefix is the chat template's fixed prefix in tokens: a cache hit
	// up to it leaves the run cold.
	templatePrefix int
}

// sampler turns one measurement into a RunSample, step by step.
type sampler struct {
	m           *measurement
	s           sampleSpec
	rs          schema.RunSample
	countsKnown bool // every token chunk carried a count
	chunkTokens int  // tokens summed over chunks (countsKnown)
	out         int  // output tokens
}

func (p *sampler) warn(format string, a ...any) {
	p.rs.Warnings = append(p.rs.Warnings, fmt.Sprintf(format, a...))
}

// exclude marks the run excluded for reason, the first reason found.
func (p *sampler) exclude(reason string) {
	if p.rs.Excluded == "" && p.rs.Success {
		p.rs.Excluded = reason
	}
}

// sample turns a measurement into a RunSample and the run's inter-token
// latencies in milliseconds. A successful run whose decode speed cannot be
// measured honestly keeps its figures and says why in Excluded.
func (m *measurement) sample(s sampleSpec) (schema.RunSample, []float64) {
	p := &sampler{m: m, s: s, rs: schema.RunSample{
		Success:            m.err == nil,
		PromptTokensTarget: s.promptTarget,
		MaxTokens:          s.maxTokens,
		FinishReason:       m.finish,
		Chunks:             len(m.chunks),
	}}
	if !m.start.IsZero() {
		p.rs.StartedAt = m.start.UTC()
		p.rs.ElapsedS = secs(m.end.Sub(m.start))
		if !m.firstByte.IsZero() {
			p.rs.FirstByteS = secs(m.firstByte.Sub(m.start))
		}
	}
	if m.err != nil {
		p.rs.Error = m.err.Error()
		p.rs.ErrorKind = m.kind
	}
	p.counts()
	p.cache()
	if m.err == nil {
		p.lengths() // the request's own reasons to exclude it come first
	}
	p.times()
	itl := p.interTokens()
	if f := m.server; f.have {
		p.rs.ServerTPS = round(f.tps, 3)
		p.rs.ServerPrefillTPS = round(f.prefillTPS, 3)
		p.rs.ServerPromptMS = round(f.promptMS, 3)
		p.rs.ServerPredictedMS = round(f.predictedMS, 3)
		p.rs.LoadS = round(f.loadS, 6)
	}
	if m.err != nil {
		return p.rs, nil
	}
	return p.rs, itl
}

// counts sets the output and prompt tokens: usage, else the server's running
// count, else chunks.
func (p *sampler) counts() {
	m := p.m
	p.countsKnown = !m.countsUnknown && len(m.chunks) > 0
	for _, c := range m.chunks {
		p.chunkTokens += c.n
	}
	switch {
	case m.haveUsage:
		p.out = m.completionTokens
	case p.countsKnown:
		p.out = m.cum
	default:
		p.out = len(m.chunks)
	}
	p.rs.OutputTokens = p.out
	if m.countBack {
		p.warn("the server's running token count went backwards: its per-chunk counts are not used")
	}
	if p.countsKnown {
		p.rs.ChunkTokens = p.chunkTokens
	}
	p.rs.PromptTokens = p.s.promptPredicted
	if m.haveUsage {
		p.rs.PromptTokens = m.promptTokens
	}
	if !m.haveUsage && len(m.chunks) > 0 && m.err == nil {
		if p.countsKnown {
			p.warn("the server reported no usage: output_tokens from its per-chunk counts, prompt_tokens is Typhon's own count (%d)", p.s.promptPredicted)
		} else {
			p.warn("the server reported no usage: output_tokens counted as chunks (%d; too low if a chunk carries several tokens), prompt_tokens is Typhon's own count (%d)", len(m.chunks), p.s.promptPredicted)
		}
	}
	if m.err == nil && m.haveUsage {
		p.checkTokenCounts()
	}
}

// checkTokenCounts compares the chunks' token counts with usage's.
func (p *sampler) checkTokenCounts() {
	tol := max(1, int(TokenMismatchTolerance*float64(p.out)))
	switch {
	case len(p.m.chunks) == 0 && p.out > 0:
		p.warn("usage says %d tokens but no chunk carried a token: no decode speed can be measured", p.out)
		p.exclude(schema.ExcludedTokenMismatch)
	case p.countsKnown && abs(p.chunkTokens-p.out) > tol:
		p.warn("the chunks' token counts sum to %d, usage says %d (tolerance %d)", p.chunkTokens, p.out, tol)
		p.exclude(schema.ExcludedTokenMismatch)
	case !p.countsKnown && len(p.m.chunks) > p.out+tol:
		p.warn("%d token chunks but usage says %d tokens (tolerance %d)", len(p.m.chunks), p.out, tol)
		p.exclude(schema.ExcludedTokenMismatch)
	case !p.countsKnown && p.out > MaxTokensPerChunk*len(p.m.chunks):
		p.warn("usage says %d tokens but only %d chunks carried any, without per-chunk counts: tokens were made that the stream did not show (hidden reasoning?), so the decode span is unknown",
			p.out, len(p.m.chunks))
		p.exclude(schema.ExcludedTokenMismatch)
	}
}

// firstShare is how many tokens the first token chunk holds: its own count, or
// output tokens / chunks when the server gave no per-chunk counts.
func (p *sampler) firstShare() float64 {
	if p.countsKnown && p.m.chunks[0].n > 0 {
		return float64(p.m.chunks[0].n)
	}
	if len(p.m.chunks) == 0 {
		return 1
	}
	return max(1, float64(p.out)/float64(len(p.m.chunks)))
}

// times sets ttft, prefill and decode speed, and flags a buffered stream.
func (p *sampler) times() {
	m := p.m
	if m.firstToken.IsZero() {
		return
	}
	p.rs.TTFTS = secs(m.firstToken.Sub(m.start))
	p.rs.LastTokenS = secs(m.lastToken.Sub(m.start))
	if !m.firstContent.IsZero() && !m.firstContent.Equal(m.firstToken) {
		p.rs.FirstContentS = secs(m.firstContent.Sub(m.start))
	}
	computed := p.rs.PromptTokens
	if p.rs.ComputedPromptTokens > 0 {
		computed = p.rs.ComputedPromptTokens
	}
	if p.rs.TTFTS > 0 && computed > 0 {
		p.rs.PrefillTPS = round(float64(computed)/m.firstToken.Sub(m.start).Seconds(), 3)
	}
	if m.err != nil || p.out <= 1 {
		return
	}
	first := p.firstShare()
	decode := m.lastToken.Sub(m.firstToken)
	tokens := float64(p.out) - first
	if len(m.chunks) <= 1 || decode <= 0 || tokens <= 0 {
		p.warn("all %d tokens came in one chunk: no decode speed can be measured", p.out)
		p.exclude(schema.ExcludedBuffered)
		return
	}
	p.rs.TPS = round(tokens/decode.Seconds(), 3)
	if perToken := time.Duration(float64(decode) / tokens); perToken < MinTokenSpan {
		p.warn("%d tokens came within %s (%s per token, under %s): the stream was buffered, not delivered as decoded",
			p.out, decode, perToken, MinTokenSpan)
		p.exclude(schema.ExcludedBuffered)
	} else if burst, pause := p.bursts(); burst >= 0.9 && pause >= BurstPause {
		p.warn("%.0f%% of the chunk gaps are under %s, between pauses of up to %s: the stream came in bursts, its timing is the buffer's",
			100*burst, MinTokenSpan/2, pause.Round(time.Millisecond))
		p.exclude(schema.ExcludedBuffered)
	}
}

// bursts returns the share of gaps between token chunks shorter than half of
// MinTokenSpan (chunks read at once from a buffer; 0 with fewer than 4 chunks)
// and the longest gap.
func (p *sampler) bursts() (share float64, longest time.Duration) {
	c := p.m.chunks
	if len(c) < 4 {
		return 0, 0
	}
	n := 0
	for i := 1; i < len(c); i++ {
		gap := c[i].at - c[i-1].at
		longest = max(longest, gap)
		if gap < MinTokenSpan/2 {
			n++
		}
	}
	return float64(n) / float64(len(c)-1), longest
}

// interTokens computes the run's inter-token latencies and their percentiles,
// each only where there are enough of them.
func (p *sampler) interTokens() []float64 {
	itl := p.m.interTokenMS(p.countsKnown, p.out)
	if v, ok := stats.PercentileOK(itl, 50); ok {
		p.rs.ITLP50MS = round(v, 3)
	}
	if v, ok := stats.PercentileOK(itl, 90); ok {
		p.rs.ITLP90MS = round(v, 3)
	}
	if v, ok := stats.PercentileOK(itl, 99); ok {
		p.rs.ITLP99MS = round(v, 3)
	}
	if !p.countsKnown && len(p.m.chunks) > 1 && p.out != len(p.m.chunks) && p.m.err == nil {
		p.warn("the server gave no per-chunk token counts and %d tokens came in %d chunks: inter-token latencies assume them evenly spread", p.out, len(p.m.chunks))
	}
	return itl
}

// cache sets cache_state and the computed prompt tokens: a run is cold when
// the cached tokens are at most the chat template's fixed prefix.
func (p *sampler) cache() {
	p.rs.CacheState = "unknown"
	c := p.m.cached
	if c == nil {
		return
	}
	v := *c
	p.rs.CachedPromptTokens = &v
	if p.rs.PromptTokens > v && p.m.haveUsage {
		p.rs.ComputedPromptTokens = p.rs.PromptTokens - v
	}
	p.rs.CacheState = "cold"
	if v <= p.s.templatePrefix {
		return
	}
	p.rs.CacheState = "warm"
	if !p.s.warm {
		p.warn("%d of %d prompt tokens came from the server's prompt cache although the request was made unique (template prefix %d)", v, p.rs.PromptTokens, p.s.templatePrefix)
		p.exclude(schema.ExcludedCacheHit)
	}
}

// lengths checks the prompt and output lengths against what was asked.
func (p *sampler) lengths() {
	rs := &p.rs
	if t := p.s.promptTarget; t > 0 && p.m.haveUsage {
		switch diff := float64(rs.PromptTokens-t) / float64(t); {
		case diff < -TruncatedShare:
			p.warn("prompt_tokens %d is %.0f%% below the %d asked: the server cut the prompt (a context smaller than the test's?)", rs.PromptTokens, -diff*100, t)
			p.exclude(schema.ExcludedTruncated)
		case abs(rs.PromptTokens-t) > max(t/100, PromptSlack):
			p.warn("prompt_tokens %d is %+.1f%% off the %d asked", rs.PromptTokens, diff*100, t)
		}
	}
	if p.s.maxTokens > 0 && p.out < p.s.maxTokens {
		rs.StoppedEarly = true
		p.warn("stopped after %d of the %d tokens asked (finish_reason %q)", p.out, p.s.maxTokens, p.m.finish)
		p.exclude(schema.ExcludedStoppedEarly)
	}
}

// interTokenMS spreads each gap between token chunks over the tokens of the later
// chunk (or, without per-chunk counts, over the average tokens per chunk).
func (m *measurement) interTokenMS(countsKnown bool, out int) []float64 {
	if len(m.chunks) < 2 {
		return nil
	}
	var itl []float64
	per := 1.0
	if !countsKnown && out > len(m.chunks) {
		per = float64(out) / float64(len(m.chunks)) // as firstShare assumes
	}
	for i := 1; i < len(m.chunks); i++ {
		gap := float64(m.chunks[i].at-m.chunks[i-1].at) / float64(time.Millisecond)
		if countsKnown {
			n := m.chunks[i].n
			for range n {
				itl = append(itl, gap/float64(n))
			}
			continue
		}
		itl = append(itl, gap/per)
	}
	return itl
}

func secs(d time.Duration) float64 { return round(d.Seconds(), 6) }
