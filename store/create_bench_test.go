package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// BenchmarkCreateAccounts measures what a burst of new accounts costs the
// commit path, as when a platform's first batches arrive: each op ingests
// 10,000 events (1 % of them hard bounces) into a fresh store, one per new
// account, in batches of 1,000.
func BenchmarkCreateAccounts(b *testing.B) {
	const accounts, size = 10000, 1000
	batches := make([][]monitor.Event, accounts/size)
	for i := range batches {
		batches[i] = benchBatch(int64(i), size, accounts, t0)
		for j := range batches[i] {
			batches[i][j].AccountID = fmt.Sprintf("bench-%05d", i*size+j)
		}
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		c := monitortest.New(t0)
		db, err := Open(b.TempDir(), Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, evs := range batches {
			if _, err := db.Ingest(context.Background(), evs); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*accounts), "ns/account")
}
