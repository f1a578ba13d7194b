package engine

import (
	"math"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// HDR histograms of a level's latencies: microseconds from 1 µs to 1 hour, 3
// significant digits.
const (
	hdrMaxMicros = int64(3600e6)
	hdrDigits    = 3
)

// hdrLatencies encodes each named series of seconds as an HDR histogram of
// microseconds (base64 of the V2 compressed encoding), so that levels of
// different runs can be merged exactly; empty series are left out.
func hdrLatencies(series map[string][]float64) map[string]string {
	out := map[string]string{}
	for name, xs := range series {
		if len(xs) == 0 {
			continue
		}
		h := hdrhistogram.New(1, hdrMaxMicros, hdrDigits)
		for _, x := range xs {
			us := int64(math.Round(x * 1e6))
			_ = h.RecordValue(min(max(us, 1), hdrMaxMicros))
		}
		if enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase); err == nil {
			out[name] = string(enc)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
