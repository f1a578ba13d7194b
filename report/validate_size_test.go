package report

// TestDecodeStrictManyLevels: a record of 20,000 load levels (40 MB of small
// histograms) is refused at once; before, validating it took 6 s of CPU.

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

func TestDecodeStrictManyLevels(t *testing.T) {
	r := fleetRecord(t, 0, 2, 0, []float64{1}, []float64{0.1}, 0)
	r.Worker, r.Mode = nil, schema.ModeLoad
	b0 := r.Benchmarks[0]
	b0.LoadLevel.Latency.TTFTS.Std = 0
	b0.LoadLevel.Latency.E2ES.Std = 0
	for i := range 20000 {
		b := b0
		b.TestID = fmt.Sprintf("l%d", i)
		r.Benchmarks = append(r.Benchmarks, b)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := DecodeStrict(buf.Bytes())
	if err == nil || !strings.Contains(err.Error(), "at most 1024") {
		t.Errorf("%d levels: %v, want at most 1024", len(r.Benchmarks), err)
	}
	t.Logf("%d bytes refused in %s", buf.Len(), time.Since(start))
}
