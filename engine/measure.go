package engine

import (
	"fmt"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// PromptSlack is how many tokens a prompt may miss its target by without a
// warning, besides 1% of the target: a short prompt cannot always hit its target
// exactly when a word is several tokens.
const PromptSlack = 4

// sampleSpec is what a request was asked for, to judge what it got.
type sampleSpec struct {
	promptTarget    int
	promptPredicted int // Typhon's own count of the prompt
	maxTokens       int
	warm            bool // the test asked for a warm cache
}

// sample turns a measurement into a RunSample and the run's inter-token
// latencies in milliseconds.
func (m *measurement) sample(s sampleSpec) (schema.RunSample, []float64) {
	rs := schema.RunSample{
		Success:            m.err == nil,
		PromptTokensTarget: s.promptTarget,
		MaxTokens:          s.maxTokens,
		FinishReason:       m.finish,
		Chunks:             len(m.chunks),
	}
	if !m.start.IsZero() {
		rs.StartedAt = m.start.UTC()
		rs.ElapsedS = secs(m.end.Sub(m.start))
		if !m.firstByte.IsZero() {
			rs.FirstByteS = secs(m.firstByte.Sub(m.start))
		}
	}
	if m.err != nil {
		rs.Error = m.err.Error()
		rs.ErrorKind = m.kind
	}
	warn := func(format string, a ...any) { rs.Warnings = append(rs.Warnings, fmt.Sprintf(format, a...)) }

	// Output tokens: usage, else the server's running count, else chunks.
	countsKnown := !m.countsUnknown && len(m.chunks) > 0
	chunkTokens := 0
	for _, c := range m.chunks {
		chunkTokens += c.n
	}
	out := 0
	switch {
	case m.haveUsage:
		out = m.completionTokens
	case countsKnown:
		out = m.cum
	default:
		out = len(m.chunks)
	}
	rs.OutputTokens = out
	if countsKnown {
		rs.ChunkTokens = chunkTokens
	}
	if m.haveUsage {
		rs.PromptTokens = m.promptTokens
	} else {
		rs.PromptTokens = s.promptPredicted
	}
	if !m.haveUsage && len(m.chunks) > 0 && m.err == nil {
		if countsKnown {
			warn("the server reported no usage: output_tokens from its per-chunk counts, prompt_tokens is Typhon's own count (%d)", s.promptPredicted)
		} else {
			warn("the server reported no usage: output_tokens counted as chunks (%d; too low if a chunk carries several tokens), prompt_tokens is Typhon's own count (%d)", len(m.chunks), s.promptPredicted)
		}
	}

	// Times.
	if !m.firstToken.IsZero() {
		rs.TTFTS = secs(m.firstToken.Sub(m.start))
		rs.LastTokenS = secs(m.lastToken.Sub(m.start))
		if !m.firstContent.IsZero() && !m.firstContent.Equal(m.firstToken) {
			rs.FirstContentS = secs(m.firstContent.Sub(m.start))
		}
		if rs.TTFTS > 0 && rs.PromptTokens > 0 {
			rs.PrefillTPS = round(float64(rs.PromptTokens)/m.firstToken.Sub(m.start).Seconds(), 3)
		}
	}
	first := 1
	if countsKnown && m.chunks[0].n > 0 {
		first = m.chunks[0].n
	}
	if decode := m.lastToken.Sub(m.firstToken); m.err == nil && len(m.chunks) > 1 && decode > 0 && out > first {
		rs.TPS = round(float64(out-first)/decode.Seconds(), 3)
	} else if m.err == nil && out > 1 && len(m.chunks) <= 1 {
		warn("all %d tokens came in one chunk: no decode speed can be measured", out)
	}
	itl := m.interTokenMS(countsKnown, out)
	if len(itl) > 0 {
		rs.ITLP50MS = round(Percentile(itl, 50), 3)
		rs.ITLP90MS = round(Percentile(itl, 90), 3)
		rs.ITLP99MS = round(Percentile(itl, 99), 3)
	}
	if !countsKnown && len(m.chunks) > 1 && out != len(m.chunks) && m.err == nil {
		warn("the server gave no per-chunk token counts and %d tokens came in %d chunks: inter-token latencies assume them evenly spread", out, len(m.chunks))
	}
	if countsKnown && m.haveUsage && abs(chunkTokens-out) > 1 {
		warn("the chunks' token counts sum to %d, usage says %d", chunkTokens, out)
	}

	// The server's own figures.
	if f := m.server; f.have {
		rs.ServerTPS = round(f.tps, 3)
		rs.ServerPrefillTPS = round(f.prefillTPS, 3)
		rs.ServerPromptMS = round(f.promptMS, 3)
		rs.ServerPredictedMS = round(f.predictedMS, 3)
		rs.LoadS = round(f.loadS, 6)
	}

	// Cache.
	rs.CacheState = "unknown"
	if m.cached != nil {
		v := *m.cached
		rs.CachedPromptTokens = &v
		rs.CacheState = "cold"
		if v > 0 {
			rs.CacheState = "warm"
			if !s.warm {
				warn("%d of %d prompt tokens came from the server's prompt cache although the request was made unique", v, rs.PromptTokens)
			}
		}
	}
	if m.err != nil {
		return rs, nil
	}

	// Lengths against what was asked.
	if t := s.promptTarget; t > 0 && m.haveUsage {
		switch diff := float64(rs.PromptTokens-t) / float64(t); {
		case diff < -0.10:
			warn("prompt_tokens %d is %.0f%% below the %d asked: the server cut the prompt (a context smaller than the test's?)", rs.PromptTokens, -diff*100, t)
		case abs(rs.PromptTokens-t) > max(t/100, PromptSlack):
			warn("prompt_tokens %d is %+.1f%% off the %d asked", rs.PromptTokens, diff*100, t)
		}
	}
	if s.maxTokens > 0 && out < s.maxTokens {
		rs.StoppedEarly = true
		warn("stopped after %d of the %d tokens asked (finish_reason %q)", out, s.maxTokens, m.finish)
	}
	return rs, itl
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
		per = float64(out-1) / float64(len(m.chunks)-1)
	}
	for i := 1; i < len(m.chunks); i++ {
		gap := float64(m.chunks[i].at.Sub(m.chunks[i-1].at)) / float64(time.Millisecond)
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
