package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// scriptedBody delivers each chunk in a read of its own at its scripted time,
// on a clock the engine reads: stream timing without a scheduler in the way.
type scriptedBody struct {
	chunks [][]byte
	at     []time.Duration
	t0     time.Time
	now    time.Time
	rest   []byte
	i      int
}

func (s *scriptedBody) Read(p []byte) (int, error) {
	if len(s.rest) == 0 {
		if s.i >= len(s.chunks) {
			return 0, io.EOF
		}
		s.rest, s.now = s.chunks[s.i], s.t0.Add(s.at[s.i])
		s.i++
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	return n, nil
}

// streamCase is one generated stream and what must come of it.
type streamCase struct {
	desc     string
	ollama   bool
	body     *scriptedBody
	out, max int
	truth    float64 // tokens after the first token chunk / its span, per second
	excluded string
}

// genStream generates a stream: per-chunk counts or not (then even chunks),
// blank chunks, a role chunk, jittered gaps, and sometimes a hostile twist that
// must exclude the run.
func genStream(rng *rand.Rand) streamCase {
	c := streamCase{ollama: rng.IntN(4) == 0, max: 20 + rng.IntN(200)}
	c.out = c.max
	twist := rng.IntN(8) // 0: early stop, 1: burst, 2: count mismatch, 3: hidden tokens, else honest
	if twist == 0 {
		c.out, c.excluded = 5+rng.IntN(c.max-5), schema.ExcludedStoppedEarly
	}
	counts := !c.ollama && rng.IntN(2) == 0 // continuous usage: per-chunk counts
	k := 1 + rng.IntN(4)
	if c.ollama {
		k = 1
	}
	gap := time.Duration(1+rng.IntN(30)) * time.Millisecond
	var sizes []int
	for left := c.out; left > 0; {
		n := k
		if counts {
			n = 1 + rng.IntN(4)
		}
		n = min(n, left)
		sizes = append(sizes, n)
		left -= n
	}
	if len(sizes) < 3 { // too short to have a span: not this test's subject
		return genStream(rng)
	}
	blank := rng.IntN(3) == 0 && (k == 1 || counts)
	role := !c.ollama && rng.IntN(2) == 0
	b := &scriptedBody{t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	add := func(at time.Duration, s string) {
		b.at, b.chunks = append(b.at, at), append(b.chunks, []byte(s))
	}
	prefill := time.Duration(5+rng.IntN(50)) * time.Millisecond
	if role {
		add(prefill/2, `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`+"\n\n")
	}
	at, cum := prefill, 0
	var first, last time.Duration
	for i, n := range sizes {
		cum += n
		text := strings.Repeat(" w", n)
		if blank && i > 0 && rng.IntN(3) == 0 {
			text = ""
		}
		if twist == 1 && i > 0 {
			at += time.Microsecond
		} else if i > 0 {
			at += time.Duration(float64(gap) * float64(n) * (0.8 + 0.4*rng.Float64()))
		}
		if i == 0 {
			first = at
		}
		last = at
		add(at, chunkLine(c.ollama, text, counts, cum))
	}
	usage := c.out
	if twist == 2 && counts {
		usage, c.excluded = c.out+c.out/5+2, schema.ExcludedTokenMismatch
	}
	if twist == 1 {
		c.excluded = schema.ExcludedBuffered
	}
	if twist == 3 && !counts {
		// Tokens made but not streamed (hidden reasoning): usage far above chunks.
		usage, c.excluded = c.out+10*len(sizes), schema.ExcludedTokenMismatch
	}
	add(last, finalLine(c.ollama, usage))
	c.body = b
	c.truth = float64(c.out-sizes[0]) / (last - first).Seconds()
	c.desc = fmt.Sprintf("ollama %v, %d of %d tokens in %d chunks (k %d), counts %v, blank %v, role %v, gap %s, twist %d",
		c.ollama, c.out, c.max, len(sizes), k, counts, blank, role, gap, twist)
	return c
}

func chunkLine(ollama bool, text string, counts bool, cum int) string {
	t, _ := json.Marshal(text)
	if ollama {
		return fmt.Sprintf(`{"message":{"role":"assistant","content":%s},"done":false}`+"\n", t)
	}
	u := ""
	if counts {
		u = fmt.Sprintf(`,"usage":{"prompt_tokens":100,"completion_tokens":%d}`, cum)
	}
	return fmt.Sprintf(`data: {"choices":[{"index":0,"delta":{"content":%s}}]%s}`+"\n\n", t, u)
}

func finalLine(ollama bool, out int) string {
	if ollama {
		return fmt.Sprintf(`{"message":{"role":"assistant","content":""},"done":true,"done_reason":"length","prompt_eval_count":100,"eval_count":%d,"eval_duration":1000000}`+"\n", out)
	}
	return fmt.Sprintf(`data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}`+"\n\n"+
		`data: {"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":%d}}`+"\n\n"+"data: [DONE]\n\n", out)
}

// TestHostileStreamsGenerated: 500 generated streams of every shape, through the
// real stream readers on a scripted clock: each comes out within 2% of its true
// decode speed, or excluded for the reason its twist calls for.
func TestHostileStreamsGenerated(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2026, 12))
	worst := 0.0
	for i := range 500 {
		c := genStream(rng)
		e := &Engine{Target: Target{Kind: KindOpenAI}}
		if c.ollama {
			e.Target.Kind = KindOllama
		}
		e.clock = func() time.Time { return c.body.now }
		m := &measurement{start: c.body.t0}
		var err error
		if c.ollama {
			err = e.readOllama(c.body, m, request{}, func(time.Time) {})
		} else {
			err = e.readOpenAI(c.body, m, request{}, func(time.Time) {})
		}
		m.end = c.body.now
		if err != nil || m.err != nil || !m.finished {
			t.Fatalf("case %d (%s): read: %v %v, finished %v", i, c.desc, err, m.err, m.finished)
		}
		rs, _ := m.sample(sampleSpec{promptTarget: 100, maxTokens: c.max})
		switch {
		case c.excluded != "":
			if rs.Excluded != c.excluded {
				t.Errorf("case %d (%s): excluded %q, want %q (tps %v; %q)", i, c.desc, rs.Excluded, c.excluded, rs.TPS, rs.Warnings)
			}
		case rs.Excluded != "":
			t.Errorf("case %d (%s): excluded %q, want measured at %.2f (%q)", i, c.desc, rs.Excluded, c.truth, rs.Warnings)
		default:
			d := math.Abs(rs.TPS-c.truth) / c.truth
			worst = max(worst, d)
			if d > 0.02 {
				t.Errorf("case %d (%s): tps %.3f, %.2f%% off the true %.3f", i, c.desc, rs.TPS, 100*d, c.truth)
			}
		}
	}
	t.Logf("500 generated streams: worst deviation of a measured run %.3f%%", 100*worst)
}
