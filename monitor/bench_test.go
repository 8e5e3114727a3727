package monitor

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor/monitortest"
)

// BenchmarkObserve is the window update done for every accepted event.
func BenchmarkObserve(b *testing.B) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	e := &Event{Type: EventSend, OccurredAt: t0}
	for i := 0; b.Loop(); i++ {
		e.OccurredAt = t0.Add(time.Duration(i%3600) * time.Second)
		a.Observe(e, e.OccurredAt, &p)
	}
}

// BenchmarkStep is the judgement made for every account a batch touches.
func BenchmarkStep(b *testing.B) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	for i := range 168 {
		at := t0.Add(time.Duration(i) * time.Hour)
		for range 10 {
			a.Observe(&Event{Type: EventSend, OccurredAt: at}, at, &p)
		}
	}
	now := t0.Add(167 * time.Hour)
	// A full measure, as after a bounce or in a new bucket; then a quiet
	// account's, which only sends reached since its last measure.
	b.Run("measured", func(b *testing.B) {
		for b.Loop() {
			a.quiet = 0
			a.Step(now, &p)
		}
	})
	b.Run("quiet", func(b *testing.B) {
		for b.Loop() {
			a.Step(now, &p)
		}
	})
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

// BenchmarkObserveBulk is the work a send of an account under the bulk
// policy adds: its window update plus the per-sender count of distinct
// recipients (100 senders, each mailing its 30 recipients).
func BenchmarkObserveBulk(b *testing.B) {
	p := DefaultPolicy()
	p.Bulk.Enabled = true
	a := NewAccount("relay", t0, p)
	var senders, recipients [100]string
	for i := range senders {
		senders[i] = fmt.Sprintf("sender%d@shop.example", i)
		recipients[i] = fmt.Sprintf("recipient%d@example.com", i)
	}
	e := &Event{Type: EventSend, OccurredAt: t0}
	for i := 0; b.Loop(); i++ {
		e.OccurredAt = t0.Add(time.Duration(i%3600) * time.Millisecond)
		e.Sender, e.Recipient = senders[i%100], recipients[(i/100)%30]
		a.Observe(e, e.OccurredAt, &p)
		if i%1000 == 999 { // the store judges the senders once per batch
			a.StepSenders(e.OccurredAt, &p, 0)
		}
	}
}

// BenchmarkQuotaStatus is the quota check of a CheckSend.
func BenchmarkQuotaStatus(b *testing.B) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	a.Quota = Quota{PerDay: 1_000_000, PerSecond: 100}
	for i := range 24 {
		at := t0.Add(time.Duration(i) * time.Hour)
		for range 1000 {
			a.Observe(&Event{Type: EventSend, OccurredAt: at}, at, &p)
		}
	}
	now := t0.Add(23*time.Hour + time.Second)
	for b.Loop() {
		if a.QuotaStatus(now, p).Exhausted() {
			b.Fatal("exhausted")
		}
	}
}

// BenchmarkReputationScore is the score the sweep computes for every
// account to see whether it crossed the alert level.
func BenchmarkReputationScore(b *testing.B) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	for i := range 7 * 24 {
		at := t0.Add(time.Duration(i) * time.Hour)
		a.Observe(&Event{Type: EventSend, OccurredAt: at, Recipient: "r@gmail.com"}, at, &p)
	}
	now := t0.Add(7 * 24 * time.Hour)
	for b.Loop() {
		a.ReputationScore(now, &p)
	}
}

// BenchmarkReputation is the score GetAccount shows, with its words.
func BenchmarkReputation(b *testing.B) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	for i := range 7 * 24 {
		at := t0.Add(time.Duration(i) * time.Hour)
		a.Observe(&Event{Type: EventSend, OccurredAt: at, Recipient: "r@gmail.com"}, at, &p)
		a.Observe(&Event{Type: EventOpen, OccurredAt: at, Recipient: "r@gmail.com"}, at, &p)
	}
	now := t0.Add(7 * 24 * time.Hour)
	for b.Loop() {
		a.Reputation(now, p)
	}
}

// BenchmarkMemoryPerSender measures the heap one active sender costs under
// the bulk policy when it mailed as many recipients as the base limit
// (the most it is counted for without being blocked). b.N is ignored.
func BenchmarkMemoryPerSender(b *testing.B) {
	p := DefaultPolicy()
	p.Bulk.Enabled = true
	const senders = 20000
	a := NewAccount("relay", t0, p)
	recipients := make([]string, p.Bulk.BaseLimit)
	for i := range recipients {
		recipients[i] = fmt.Sprintf("recipient%d@example.com", i)
	}
	addrs := make([]string, senders)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("sender%05d@shop.example", i)
	}
	before := monitortest.HeapInUse()
	e := &Event{Type: EventSend, OccurredAt: t0}
	for _, s := range addrs {
		e.Sender = s
		for _, r := range recipients {
			e.Recipient = r
			a.Observe(e, t0, &p)
		}
	}
	a.StepSenders(t0, &p, 0)
	after := monitortest.HeapInUse()
	b.ReportMetric(float64(after-before)/senders, "bytes/sender")
	runtime.KeepAlive(a)
}
