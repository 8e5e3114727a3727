package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// BenchmarkCheckRecipients is one CheckRecipients call over loopback gRPC
// for 1,000 addresses, half of them suppressed, against an account with
// 1,000,000 suppressed addresses; p50 and p99 are the call's latency as
// the client sees it.
func BenchmarkCheckRecipients(b *testing.B) {
	const suppressed = 1_000_000
	e := newEnv(b)
	ctx := context.Background()
	for i := 0; i < suppressed; i += 10_000 {
		evs := make([]*pb.Event, 10_000)
		for j := range evs {
			n := i + j
			evs[j] = &pb.Event{EventId: fmt.Sprint("u", n), AccountId: "acme", Type: pb.EventType_EVENT_TYPE_UNSUBSCRIBE,
				OccurredAt: timestamppb.New(t0), Recipient: fmt.Sprintf("user%07d@example.com", n)}
		}
		if _, err := e.events.IngestEvents(ctx, &pb.IngestEventsRequest{Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	req := &pb.CheckRecipientsRequest{AccountId: "acme", Recipients: make([]string, 1000)}
	var took []time.Duration
	for b.Loop() {
		for i := range req.Recipients {
			req.Recipients[i] = fmt.Sprintf("user%07d@example.com", rng.IntN(2*suppressed))
		}
		start := time.Now()
		resp, err := e.suppress.CheckRecipients(ctx, req)
		took = append(took, time.Since(start))
		if err != nil || len(resp.GetResults()) != len(req.Recipients) {
			b.Fatal(err)
		}
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
