package report

import (
	"fmt"
	"math"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/typhonbench/typhon/schema"
)

// HDRPrecision is how closely a percentile of a merged level matches the one
// computed from the union of the workers' raw samples: the engine records
// latencies in HDR histograms of microseconds with 3 significant digits, whose
// buckets are at most 1/1024 of their value wide; a merged percentile takes each
// sample at the middle of its bucket and interpolates between closest ranks as
// the raw figures do, so it is within HDRPrecision of the value, or within
// HDRResolutionS when that is larger.
const (
	HDRPrecision   = 0.001
	HDRResolutionS = 1e-6
)

// The geometry of the engine's histograms; others are refused, so that a crafted
// record cannot make a merge walk millions of buckets.
const (
	hdrLowest  = 1
	hdrHighest = 3600e6
	hdrDigits  = 3
)

// decodeHDR decodes one histogram of a record and checks its geometry.
func decodeHDR(enc string) (*hdrhistogram.Histogram, error) {
	h, err := hdrhistogram.Decode([]byte(enc))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	if h.LowestTrackableValue() != hdrLowest || h.HighestTrackableValue() > hdrHighest || h.SignificantFigures() != hdrDigits {
		return nil, fmt.Errorf("a histogram of %d to %d with %d digits: want the engine's (%d to %d µs, %d digits)",
			h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures(), hdrLowest, int64(hdrHighest), hdrDigits)
	}
	return h, nil
}

// hdrMatches reports a histogram whose percentiles are not its series'
// figures (within twice HDRPrecision or HDRResolutionS): a merge takes the
// histograms' word, so one that holds other samples than the figures say
// would change the merged percentiles unseen.
func hdrMatches(h *hdrhistogram.Histogram, d schema.Dist) error {
	if d.N == 0 {
		return nil
	}
	p50, p90, _, p99 := hdrPercentiles(h)
	for _, c := range [][2]float64{{p50, d.P50}, {p90, d.P90}, {p99, d.P99}} {
		if math.Abs(c[0]-c[1]) > 2*HDRPrecision*math.Abs(c[1])+2*HDRResolutionS {
			return fmt.Errorf("p50/p90/p99 %g/%g/%g s, the figures %g/%g/%g s", p50, p90, p99, d.P50, d.P90, d.P99)
		}
	}
	return nil
}

// mergeHDR decodes and adds the encoded histograms; nil when there are none.
func mergeHDR(encoded []string) (*hdrhistogram.Histogram, error) {
	var out *hdrhistogram.Histogram
	for _, e := range encoded {
		h, err := decodeHDR(e)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = h
			continue
		}
		if dropped := out.Merge(h); dropped > 0 {
			return nil, fmt.Errorf("merging histograms dropped %d values out of range", dropped)
		}
	}
	return out, nil
}

// hdrPercentiles are the p50, p90, p95 and p99 of h in seconds, interpolated
// between closest ranks (as the engine's raw percentiles are), each sample
// taken at the middle of its bucket (microseconds).
func hdrPercentiles(h *hdrhistogram.Histogram) (p50, p90, p95, p99 float64) {
	n := h.TotalCount()
	if n == 0 {
		return
	}
	var bars []hdrhistogram.Bar
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			bars = append(bars, b)
		}
	}
	// at returns the value of the sample of rank k (0-based) in seconds.
	at := func(k int64) float64 {
		var seen int64
		for _, b := range bars {
			seen += b.Count
			if k < seen {
				return float64(b.From+b.To) / 2 / 1e6
			}
		}
		last := bars[len(bars)-1]
		return float64(last.From+last.To) / 2 / 1e6
	}
	q := func(p float64) float64 {
		r := p / 100 * float64(n-1)
		lo := int64(math.Floor(r))
		if lo >= n-1 {
			return at(n - 1)
		}
		a, b := at(lo), at(lo+1)
		return a + (r-float64(lo))*(b-a)
	}
	return q(50), q(90), q(95), q(99)
}

// combineDist merges the mean, std and n of dists exactly (std is the sample
// standard deviation); percentiles are left to the caller.
func combineDist(ds []schema.Dist) schema.Dist {
	var n int
	var sum, ss float64
	for _, d := range ds {
		if d.N == 0 {
			continue
		}
		n += d.N
		sum += float64(d.N) * d.Mean
		ss += float64(d.N-1)*d.Std*d.Std + float64(d.N)*d.Mean*d.Mean
	}
	if n == 0 {
		return schema.Dist{}
	}
	mean := sum / float64(n)
	out := schema.Dist{Mean: roundTo(mean, 6), N: n}
	if n > 1 {
		out.Std = roundTo(math.Sqrt(max(0, (ss-float64(n)*mean*mean)/float64(n-1))), 6)
	}
	return out
}

// mergeDist merges one latency series of several workers: mean, std and n
// exactly, percentiles from the merged histogram (the workers' encoded
// histograms, one per worker that has the series). It returns the merged
// encoding too.
func mergeDist(ds []schema.Dist, encoded []string) (schema.Dist, string, error) {
	out := combineDist(ds)
	if out.N == 0 {
		return out, "", nil
	}
	h, err := mergeHDR(encoded)
	if err != nil {
		return out, "", err
	}
	if h == nil || h.TotalCount() != int64(out.N) {
		got := int64(0)
		if h != nil {
			got = h.TotalCount()
		}
		return out, "", fmt.Errorf("%w: the histograms hold %d samples, the figures %d: a record without its histograms cannot be merged", ErrMerge, got, out.N)
	}
	p50, p90, p95, p99 := hdrPercentiles(h)
	out.P50, out.P90, out.P95, out.P99 = roundTo(p50, 6), roundTo(p90, 6), roundTo(p95, 6), roundTo(p99, 6)
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return out, "", fmt.Errorf("encode histogram: %w", err)
	}
	return out, string(enc), nil
}

func roundTo(x float64, d int) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	p := math.Pow10(d)
	return math.Round(x*p) / p
}
