package monitor

import (
	"testing"
	"time"
)

// BenchmarkObserve is the window update done for every accepted event.
func BenchmarkObserve(b *testing.B) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	e := &Event{Type: EventSend, OccurredAt: t0}
	for i := 0; b.Loop(); i++ {
		e.OccurredAt = t0.Add(time.Duration(i%3600) * time.Second)
		a.Observe(e, e.OccurredAt, p)
	}
}

// BenchmarkStep is the judgement made for every account a batch touches.
func BenchmarkStep(b *testing.B) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	for i := range 168 {
		at := t0.Add(time.Duration(i) * time.Hour)
		for range 10 {
			a.Observe(&Event{Type: EventSend, OccurredAt: at}, at, p)
		}
	}
	now := t0.Add(167 * time.Hour)
	for b.Loop() {
		a.Step(now, p)
	}
}

// BenchmarkValidate is the check made for every received event.
func BenchmarkValidate(b *testing.B) {
	e := validEvent()
	l := DefaultLimits()
	for b.Loop() {
		if err := e.Validate(now, l); err != nil {
			b.Fatal(err)
		}
	}
}
