package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// BenchmarkCheckRecipients asks about 1,000 addresses, half of them
// suppressed, of an account with 1,000,000 suppressed addresses. One op is
// one call; p50 and p99 are the call's latency.
func BenchmarkCheckRecipients(b *testing.B) {
	const suppressed = 1_000_000
	c := monitortest.New(t0)
	db := testDB(b, b.TempDir(), c)
	start := time.Now()
	for i := 0; i < suppressed; i += 10_000 {
		evs := make([]monitor.Event, 10_000)
		for j := range evs {
			n := i + j
			evs[j] = monitor.Event{ID: fmt.Sprint("u", n), AccountID: "acme", Type: monitor.EventUnsubscribe,
				OccurredAt: t0, Recipient: fmt.Sprintf("user%07d@example.com", n)}
		}
		if _, err := db.Ingest(context.Background(), evs); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("suppressed %d addresses through Ingest in %v", suppressed, time.Since(start).Round(time.Millisecond))

	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, 1000)
	var took []time.Duration
	for b.Loop() {
		for i := range keys {
			n := rng.IntN(2 * suppressed) // half of them were never seen
			keys[i] = fmt.Sprintf("user%07d@example.com", n)
		}
		t := time.Now()
		rs, err := db.CheckRecipients(context.Background(), "acme", keys)
		took = append(took, time.Since(t))
		if err != nil || len(rs) != len(keys) {
			b.Fatal(err)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
