package store

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// benchBatch returns size send events spread over accounts, with ids unique
// to seq.
func benchBatch(seq int64, size, accounts int, at time.Time) []monitor.Event {
	evs := make([]monitor.Event, size)
	for i := range evs {
		evs[i] = monitor.Event{
			ID:         fmt.Sprintf("b%d-%d", seq, i),
			AccountID:  fmt.Sprintf("acct-%d", (int(seq)*size+i*7919)%accounts),
			Type:       monitor.EventSend,
			OccurredAt: at,
			Recipient:  fmt.Sprintf("r%d@example.com", i),
		}
		if i%100 == 0 {
			evs[i].Type = monitor.EventBounce
			evs[i].Bounce = &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.1.1 user unknown"}
		}
	}
	return evs
}

// BenchmarkIngest commits batches of 1,000 events over 10,000 accounts from
// concurrent callers, durably (fsync per commit group). One op is a batch.
func BenchmarkIngest(b *testing.B) {
	c := monitortest.New(t0)
	benchIngest(b, testDB(b, b.TempDir(), c), false)
}

// BenchmarkIngestSenders is BenchmarkIngest with a sender on every event
// (10 senders per account, each mailing 30 recipients): the baseline of
// BenchmarkIngestBulk, whose events are the same.
func BenchmarkIngestSenders(b *testing.B) { benchIngestSenders(b, false) }

// BenchmarkIngestBulk is BenchmarkIngestSenders with every account under
// the bulk policy: each send also counts its sender's distinct recipients
// (none goes over its limit).
func BenchmarkIngestBulk(b *testing.B) { benchIngestSenders(b, true) }

func benchIngestSenders(b *testing.B, bulk bool) {
	c := monitortest.New(t0)
	p := monitor.DefaultPolicy()
	p.Bulk.Enabled = bulk
	db, err := Open(b.TempDir(), Options{Policy: p, Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { closeAndCheck(b, db) })
	benchIngest(b, db, true)
}

func benchIngest(b *testing.B, db *DB, senders bool) {
	// Prepare the batches up front: building events is not what we measure.
	const size = 1000
	batches := make([][]monitor.Event, 256)
	for i := range batches {
		batches[i] = benchBatch(int64(i), size, 10000, t0)
		if senders {
			for j := range batches[i] {
				e := &batches[i][j]
				e.Sender = fmt.Sprintf("sender%d@%s.example", j%10, e.AccountID)
				e.Recipient = fmt.Sprintf("r%d@example.com", (i+j)%30)
			}
		}
	}
	var seq atomic.Int64
	b.SetParallelism(4) // callers per core: group commit needs company
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			evs := batches[n%int64(len(batches))]
			// Fresh ids each round so that nothing is a duplicate.
			fresh := make([]monitor.Event, len(evs))
			copy(fresh, evs)
			for i := range fresh {
				fresh[i].ID = fmt.Sprintf("r%d-%d", n, i)
			}
			if _, err := db.Ingest(context.Background(), fresh); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMemoryPerAccount measures the heap that a tracked account costs:
// its windows, its record in the account map and the dedupe key of its one
// event. It tracks 1,000,000 accounts; b.N is ignored.
func BenchmarkMemoryPerAccount(b *testing.B) {
	const accounts = 1_000_000
	c := monitortest.New(t0)
	db := testDB(b, b.TempDir(), c)
	before := monitortest.HeapInUse()
	const size = 10000
	for start := 0; start < accounts; start += size {
		evs := make([]monitor.Event, size)
		for i := range evs {
			evs[i] = monitor.Event{
				ID: "e", AccountID: fmt.Sprintf("acct-%07d", start+i), Type: monitor.EventSend,
				OccurredAt: t0, Recipient: "r@example.com",
			}
		}
		if _, err := db.Ingest(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
	after := monitortest.HeapInUse()
	b.ReportMetric(float64(after-before)/accounts, "bytes/account")
	runtime.KeepAlive(db)
}

// BenchmarkSweep judges 100,000 accounts, as the schedule does every minute.
func BenchmarkSweep(b *testing.B) {
	const accounts = 100_000
	c := monitortest.New(t0)
	db := testDB(b, b.TempDir(), c)
	for start := 0; start < accounts; start += 10000 {
		if _, err := db.Ingest(context.Background(), benchBatch(int64(start), 10000, accounts, t0)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Sweep(context.Background(), t0.Add(time.Duration(i)*time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*accounts), "ns/account")
}

// BenchmarkMemoryPerEvent measures what remembering an event id for
// deduplication costs: 5,000,000 events over 1,000 accounts. b.N is ignored.
func BenchmarkMemoryPerEvent(b *testing.B) {
	const events, size = 5_000_000, 10000
	c := monitortest.New(t0)
	db := testDB(b, b.TempDir(), c)
	before := monitortest.HeapInUse()
	for start := 0; start < events; start += size {
		if _, err := db.Ingest(context.Background(), benchBatch(int64(start/size), size, 1000, t0)); err != nil {
			b.Fatal(err)
		}
	}
	after := monitortest.HeapInUse()
	b.ReportMetric(float64(after-before)/events, "bytes/event")
	runtime.KeepAlive(db)
}

// BenchmarkReadAccountBesideIngest reads one account at a time, as
// CheckSend does, while four callers ingest batches of 1,000 events as fast
// as the store takes them, and reports the reads' latency percentiles (the
// figures to read: ns/op includes a pause between reads). One op is a read.
func BenchmarkReadAccountBesideIngest(b *testing.B) {
	c := monitortest.New(t0)
	db := testDB(b, b.TempDir(), c)
	ctx, stop := context.WithCancel(context.Background())
	var ingest sync.WaitGroup
	var seq, ingested atomic.Int64
	for range 4 {
		ingest.Go(func() {
			for ctx.Err() == nil {
				n := seq.Add(1)
				if _, err := db.Ingest(ctx, benchBatch(n, 1000, 10000, t0)); err != nil && ctx.Err() == nil {
					b.Error(err)
					return
				}
				ingested.Add(1)
			}
		})
	}
	// Let every account exist before reading.
	for ingested.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		err := db.ReadAccount(ctx, fmt.Sprintf("acct-%d", i*7919%10000), func(a *monitor.Account) {})
		latencies = append(latencies, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(200 * time.Microsecond) // a reader among others, not a spinning one
	}
	b.StopTimer()
	stop()
	ingest.Wait()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(latencies[len(latencies)*999/1000].Nanoseconds())/1e3, "p99.9-µs")
}
