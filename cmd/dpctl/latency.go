package main

import (
	"math"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted, by the
// nearest-rank method: the smallest value that at least p % of the values
// do not exceed. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// roundDuration rounds d to microseconds, enough for batch latencies and
// short enough to read.
func roundDuration(d time.Duration) time.Duration {
	return d.Round(time.Microsecond)
}
