package engine

import (
	"math"
	"math/rand/v2"
	"time"
)

// arrivals is the send schedule of a rate level: offsets from the level's start.
// The ramp-up and the window each get round(rate x length) arrivals, spread as a
// renewal process with gamma gaps of shape burstiness (1: Poisson) scaled so the
// last gap ends at the segment's end: a Poisson process conditioned on its
// count, so that the window holds exactly the asked rate on average and no
// sampling noise of the count hides in the achieved rate.
func arrivals(rate float64, ramp, window time.Duration, burstiness float64, seed uint64) []time.Duration {
	rng := newRand(seed)
	out := segment(rng, rate, 0, ramp, burstiness)
	return append(out, segment(rng, rate, ramp, window, burstiness)...)
}

func segment(rng *rand.Rand, rate float64, from, length time.Duration, shape float64) []time.Duration {
	n := int(math.Round(rate * length.Seconds()))
	if n <= 0 {
		return nil
	}
	gaps := make([]float64, n+1)
	sum := 0.0
	for i := range gaps {
		gaps[i] = gammaRand(rng, shape)
		sum += gaps[i]
	}
	out := make([]time.Duration, n)
	acc := 0.0
	for i := range n {
		acc += gaps[i]
		out[i] = from + time.Duration(acc/sum*float64(length))
	}
	return out
}

// gammaRand draws from a gamma distribution of the given shape and scale 1
// (Marsaglia and Tsang; shape below 1 by the boost of Ahrens and Dieter).
func gammaRand(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := rng.Float64()
		for u == 0 {
			u = rng.Float64()
		}
		return gammaRand(rng, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}
