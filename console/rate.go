package console

import (
	"sync"
	"time"
)

// rateMeter turns the count of durable events into events per second by
// sampling it when asked: the overview's figure, over the last minute or
// so, without a goroutine of its own.
type rateMeter struct {
	count func() uint64
	clock func() time.Time

	mu      sync.Mutex
	samples []rateSample // oldest first, at least a second apart
}

type rateSample struct {
	at time.Time
	n  uint64
}

// rateSpan is how far back the rate looks; rateSamples bounds the samples.
const (
	rateSpan    = time.Minute
	rateSamples = 64
)

func newRateMeter(count func() uint64, clock func() time.Time) *rateMeter {
	return &rateMeter{count: count, clock: clock}
}

// PerSecond samples the count and returns the rate since the oldest
// sample within rateSpan; ok is false until two samples a second apart
// exist.
func (m *rateMeter) PerSecond() (rate float64, ok bool) {
	now, n := m.clock(), m.count()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.samples) > 0 && now.Sub(m.samples[len(m.samples)-1].at) > rateSpan {
		// Nobody looked for a while: an average over the whole gap is not
		// the rate now. Start again from here.
		m.samples = m.samples[:0]
	}
	if len(m.samples) == 0 || now.Sub(m.samples[len(m.samples)-1].at) >= time.Second {
		m.samples = append(m.samples, rateSample{now, n})
	}
	// Keep one sample older than the span, so that a page opened a while
	// after the last one still has a rate.
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) > rateSpan || len(m.samples) > rateSamples {
		m.samples = m.samples[1:]
	}
	oldest := m.samples[0]
	dt := now.Sub(oldest.at).Seconds()
	if dt < 1 || n < oldest.n {
		return 0, false
	}
	return float64(n-oldest.n) / dt, true
}
