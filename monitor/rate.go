package monitor

import "math"

// z95 is the standard normal quantile for a two-sided 95 % interval.
const z95 = 1.959963984540054

// Rate is a measured fraction with its 95 % confidence interval.
type Rate struct {
	Value float64
	Lower float64
	Upper float64
}

// NewRate measures k events out of n. The interval is Wilson's score
// interval: unlike the normal approximation it stays inside [0, 1] and is
// honest for small n and rates near zero, which is where bounce and
// complaint rates live. With n = 0 nothing is known: the rate is 0 and the
// interval is [0, 1]. k is capped at n because bounces and complaints can
// arrive in a window whose sends have already slid out.
func NewRate(k, n uint64) Rate {
	if n == 0 {
		return Rate{Value: 0, Lower: 0, Upper: 1}
	}
	k = min(k, n)
	nf := float64(n)
	p := float64(k) / nf
	z2 := z95 * z95
	denom := 1 + z2/nf
	center := (p + z2/(2*nf)) / denom
	half := z95 * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / denom
	return Rate{Value: p, Lower: math.Max(0, center-half), Upper: math.Min(1, center+half)}
}
