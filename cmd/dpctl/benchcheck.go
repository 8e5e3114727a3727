package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// maxCheckSendsInFlight bounds the CheckSend calls a bench keeps open: the
// calls are started on schedule whatever the answers (so a slow server
// shows in the latencies rather than in a lower rate), up to this many.
const maxCheckSendsInFlight = 256

// checkSendStats are the answers of the CheckSend calls of a bench.
type checkSendStats struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    int
	firstErr  error
	skipped   int // not started: too many in flight
	elapsed   time.Duration
}

// checkSends calls CheckSend at rate calls a second until ctx is done, for
// an account drawn from accounts and one recipient, as a platform does
// before each message, and waits for the calls in flight. Calls started
// within warmup of the start are not counted.
func checkSends(ctx context.Context, client dpmonv1.AccountServiceClient, rate int, warmup time.Duration, accounts []string) *checkSendStats {
	st := &checkSendStats{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	interval := time.Duration(float64(time.Second) / float64(rate))
	slots := make(chan struct{}, maxCheckSendsInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	from := start.Add(warmup)
	next := start
	for sleepUntil(ctx, next) {
		next = next.Add(interval)
		select {
		case slots <- struct{}{}:
		default:
			st.mu.Lock()
			st.skipped++
			st.mu.Unlock()
			continue
		}
		req := &dpmonv1.CheckSendRequest{
			AccountId:  accounts[rng.IntN(len(accounts))],
			Recipients: []string{fmt.Sprintf("r%d@example.com", rng.IntN(recipients))},
		}
		wg.Go(func() {
			defer func() { <-slots }()
			callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			sent := time.Now()
			_, err := client.CheckSend(callCtx, req)
			took := time.Since(sent)
			st.mu.Lock()
			defer st.mu.Unlock()
			if sent.Before(from) {
				return
			}
			if err != nil {
				st.errors++
				if st.firstErr == nil {
					st.firstErr = err
				}
				return
			}
			st.latencies = append(st.latencies, took)
		})
	}
	wg.Wait()
	st.elapsed = time.Since(from)
	return st
}

// print writes the line "check-send calls/s=N p50=D p99=D", after a line on
// errors or skipped calls if there were any.
func (st *checkSendStats) print(w io.Writer) {
	lat := slices.Clone(st.latencies)
	slices.Sort(lat)
	if st.errors > 0 || st.skipped > 0 {
		fmt.Fprintf(w, "check-send: %d calls failed (first: %v), %d not started with %d in flight\n", st.errors, st.firstErr, st.skipped, maxCheckSendsInFlight)
	}
	perSec := 0
	if st.elapsed > 0 {
		perSec = int(float64(len(lat)) / st.elapsed.Seconds())
	}
	fmt.Fprintf(w, "check-send calls/s=%d p50=%v p99=%v\n", perSec, roundDuration(percentile(lat, 50)), roundDuration(percentile(lat, 99)))
}
