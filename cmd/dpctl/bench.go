package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// benchConfig says what load "dpctl bench" generates.
type benchConfig struct {
	accounts    int
	batch       int
	concurrency int
	inflight    int
	duration    time.Duration
	// warmup is how long, from the start, the bench runs before it
	// measures: what is sent or called before then is left out of the
	// figures, as a fresh server first creates the accounts.
	warmup time.Duration
	rate   int           // events per second over all streams; 0: unlimited
	drain  time.Duration // how long to wait for the last answers
	// checkSendRate is how many CheckSend calls a second go beside the
	// streams; 0: none.
	checkSendRate int
	// spread, when set, dates each event at random over that long before
	// it is sent, so that accounts fill their windows as over days.
	spread time.Duration
}

// maxSpread is the longest --spread: the longest window. Older events
// count in none, and past the dedupe horizon they are refused.
const maxSpread = 7 * 24 * time.Hour

// runBench implements "dpctl bench". Its output is for people, except its
// last line, "events/s=N p50=D p99=D", and with --check-send-rate the line
// before, "check-send calls/s=N p50=D p99=D", which are for scripts; -o is
// ignored.
func runBench(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "bench", "")
	cfg := benchConfig{}
	fs.IntVar(&cfg.accounts, "accounts", 10000, "number of accounts the events are spread over")
	fs.IntVar(&cfg.batch, "batch", 1000, fmt.Sprintf("events per batch, at most %d", maxBatch))
	fs.IntVar(&cfg.concurrency, "concurrency", 4, "number of concurrent streams")
	fs.IntVar(&cfg.inflight, "inflight", 4, "batches in flight per stream")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to send")
	fs.DurationVar(&cfg.warmup, "warmup", 0, "how long to send before measuring, within --duration: batches and calls started earlier are left out of the figures")
	fs.IntVar(&cfg.rate, "rate", 0, "target `events` per second over all streams (0: as fast as possible)")
	fs.IntVar(&cfg.checkSendRate, "check-send-rate", 0, "CheckSend `calls` per second beside the streams, each for one recipient (0: none)")
	fs.DurationVar(&cfg.spread, "spread", 0, "date each event at random over this long before it is sent, at most 168h, for measuring memory with a week of windows (0: as it is sent)")
	if _, err := fs.parseN(args, 0, 0); err != nil {
		return err
	}
	switch {
	case cfg.accounts < 1:
		return fs.usageErr("--accounts must be at least 1")
	case cfg.batch < 1 || cfg.batch > maxBatch:
		return fs.usageErr(fmt.Sprintf("--batch must be between 1 and %d", maxBatch))
	case cfg.concurrency < 1:
		return fs.usageErr("--concurrency must be at least 1")
	case cfg.inflight < 1:
		return fs.usageErr("--inflight must be at least 1")
	case cfg.duration <= 0:
		return fs.usageErr("--duration must be positive")
	case cfg.warmup < 0 || cfg.warmup >= cfg.duration:
		return fs.usageErr("--warmup must be at least 0 and shorter than --duration")
	case cfg.rate < 0:
		return fs.usageErr("--rate must not be negative")
	case cfg.checkSendRate < 0 || cfg.checkSendRate > 1_000_000:
		return fs.usageErr("--check-send-rate must be between 0 and 1000000")
	case cfg.spread < 0 || cfg.spread > maxSpread:
		return fs.usageErr("--spread must be between 0 and 168h")
	}
	cfg.drain = e.timeout

	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	var checks *checkSendStats
	var wg sync.WaitGroup
	if cfg.checkSendRate > 0 {
		// A connection of their own, as a platform's mail senders have:
		// on the streams' connection the calls would queue behind
		// megabytes of event batches.
		checkConn, err := e.dial()
		if err != nil {
			return err
		}
		defer checkConn.Close()
		checkCtx, cancel := context.WithTimeout(ctx, cfg.duration)
		defer cancel()
		wg.Go(func() {
			checks = checkSends(checkCtx, dpmonv1.NewAccountServiceClient(checkConn), cfg.checkSendRate, cfg.warmup, benchAccounts(cfg.accounts))
		})
	}
	res, err := bench(ctx, dpmonv1.NewEventServiceClient(conn), cfg)
	wg.Wait()
	if res != nil {
		printBench(e.stdout, cfg, res, checks)
	}
	return err
}

// benchResult is what a bench run measured.
type benchResult struct {
	total       time.Duration // from the first send to the last answer
	elapsed     time.Duration // from the end of the warm-up to the last answer
	sentBatches int
	sentEvents  int
	acks        ackStats
}

// bench runs the load cfg describes. Interrupting ctx stops the sending
// early but still waits for the answers, so there is a result to print.
// The result is nil only when no stream could be opened.
func bench(ctx context.Context, client dpmonv1.EventServiceClient, cfg benchConfig) (*benchResult, error) {
	prefix := runPrefix(time.Now())
	accounts := benchAccounts(cfg.accounts)
	workers := make([]*benchWorker, cfg.concurrency)
	for i := range workers {
		rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
		workers[i] = &benchWorker{
			// One more batch than can be in flight: the one being stamped
			// has always been acknowledged.
			pool:     newBenchPool(rng, cfg.inflight+1, cfg.batch, cfg.accounts, cfg.spread),
			ids:      newIDSource(prefix + strconv.Itoa(i) + "-"),
			rng:      rng,
			accounts: accounts,
		}
	}
	// The streams outlive an interrupt, to collect the answers already due.
	streamCtx := context.WithoutCancel(ctx)
	for _, w := range workers {
		s, err := openBatchStream(streamCtx, client, cfg.inflight, w.acks.add)
		if err != nil {
			for _, w := range workers {
				if w.stream != nil {
					w.stream.Close(cfg.drain)
				}
			}
			return nil, err
		}
		w.stream = s
	}

	start := time.Now()
	for _, w := range workers {
		w.acks.from = start.Add(cfg.warmup) // before the first send, so before any answer
	}
	sendCtx, cancel := context.WithDeadline(ctx, start.Add(cfg.duration))
	defer cancel()
	interval := time.Duration(0)
	if cfg.rate > 0 {
		// Each stream sends its share of the rate.
		interval = time.Duration(float64(time.Second) * float64(cfg.batch*cfg.concurrency) / float64(cfg.rate))
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.run(sendCtx, start, interval, cfg.drain) })
	}
	wg.Wait()

	res := &benchResult{}
	var errs []error
	for _, w := range workers {
		res.sentBatches += w.sentBatches
		res.sentEvents += w.sentBatches * cfg.batch
		res.acks.merge(&w.acks)
		errs = append(errs, w.err)
	}
	if !res.acks.last.IsZero() {
		res.total = res.acks.last.Sub(start)
		res.elapsed = res.acks.last.Sub(start.Add(cfg.warmup))
	}
	errs = append(errs, ctx.Err())
	return res, errors.Join(errs...)
}

// benchWorker sends batches on one stream.
type benchWorker struct {
	pool        []*benchBatch
	ids         *idSource
	rng         *rand.Rand
	accounts    []string // shared, read only
	stream      *batchStream
	sentBatches int
	acks        ackStats // written by the stream's receiver until it is closed
	err         error
}

// run sends batches, one every interval or as fast as answers allow,
// until ctx is done, then waits at most drain for the last answers.
func (w *benchWorker) run(ctx context.Context, start time.Time, interval, drain time.Duration) {
	next := start
	for i := 0; ; i++ {
		if interval > 0 {
			if !sleepUntil(ctx, next) {
				break
			}
			next = next.Add(interval)
			if now := time.Now(); now.Sub(next) > interval {
				next = now // fell behind: do not burst to catch up
			}
		}
		if ctx.Err() != nil {
			break
		}
		b := w.pool[i%len(w.pool)]
		b.stamp(w.ids, w.rng, w.accounts, time.Now())
		if err := w.stream.Send(ctx, b.events, nil); err != nil {
			if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
				w.err = err
			}
			break
		}
		w.sentBatches++
	}
	if err := w.stream.Close(drain); err != nil && w.err == nil {
		w.err = err
	}
}

// sleepUntil waits until t and reports whether ctx is still live.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ackStats sums up the answers of one or more streams.
type ackStats struct {
	events     int // accepted + duplicates + rejected
	accepted   int
	duplicates int
	rejected   int
	// firstRejection explains one rejection: bench events should all be
	// valid, so any rejection is a problem in dpctl or the server.
	firstRejection string
	latencies      []time.Duration // per batch, from Send to its answer
	last           time.Time       // when the last answer arrived
	// from is the end of the warm-up: the answers to batches sent before
	// it are left out of measured and latencies.
	from     time.Time
	measured int
	batches  int
}

// add counts one answer; it is an ackFunc.
func (a *ackStats) add(f flight, resp *dpmonv1.StreamEventsResponse) {
	now := time.Now()
	a.last = now
	rejected := len(resp.GetRejected())
	a.accepted += int(resp.GetAccepted())
	a.duplicates += int(resp.GetDuplicates())
	a.rejected += rejected
	answered := int(resp.GetAccepted()) + int(resp.GetDuplicates()) + rejected
	a.events += answered
	a.batches++
	if !f.sent.Before(a.from) {
		a.measured += answered
		a.latencies = append(a.latencies, now.Sub(f.sent))
	}
	if rejected > 0 && a.firstRejection == "" {
		r := resp.GetRejected()[0]
		a.firstRejection = fmt.Sprintf("%s: %s", r.GetField(), r.GetReason())
	}
}

// merge adds the counts of b to a.
func (a *ackStats) merge(b *ackStats) {
	a.events += b.events
	a.measured += b.measured
	a.batches += b.batches
	a.accepted += b.accepted
	a.duplicates += b.duplicates
	a.rejected += b.rejected
	if a.firstRejection == "" {
		a.firstRejection = b.firstRejection
	}
	a.latencies = append(a.latencies, b.latencies...)
	if b.last.After(a.last) {
		a.last = b.last
	}
}

// printBench writes a short report; the last line is the one scripts read.
func printBench(w io.Writer, cfg benchConfig, res *benchResult, checks *checkSendStats) {
	rate := "unlimited"
	if cfg.rate > 0 {
		rate = fmt.Sprintf("%d events/s", cfg.rate)
	}
	fmt.Fprintf(w, "%d streams, %d batches in flight each, %d events a batch, %d accounts, rate %s\n",
		cfg.concurrency, cfg.inflight, cfg.batch, cfg.accounts, rate)
	fmt.Fprintf(w, "sent %d events in %d batches; acknowledged %d in %d batches (%d accepted, %d duplicates, %d rejected) in %v\n",
		res.sentEvents, res.sentBatches, res.acks.events, res.acks.batches,
		res.acks.accepted, res.acks.duplicates, res.acks.rejected, roundDuration(res.total))
	if res.acks.firstRejection != "" {
		fmt.Fprintf(w, "first rejection: %s\n", res.acks.firstRejection)
	}
	if cfg.warmup > 0 {
		fmt.Fprintf(w, "measured after a warm-up of %v: %d batches, %d events in %v\n", cfg.warmup, len(res.acks.latencies), res.acks.measured, roundDuration(res.elapsed))
	}
	lat := slices.Clone(res.acks.latencies)
	slices.Sort(lat)
	if len(lat) > 0 {
		fmt.Fprintf(w, "batch latency: min=%v p50=%v p90=%v p99=%v max=%v\n",
			roundDuration(lat[0]), roundDuration(percentile(lat, 50)), roundDuration(percentile(lat, 90)),
			roundDuration(percentile(lat, 99)), roundDuration(lat[len(lat)-1]))
	}
	if checks != nil {
		checks.print(w)
	}
	perSec := 0
	if res.elapsed > 0 {
		perSec = int(float64(res.acks.measured) / res.elapsed.Seconds())
	}
	fmt.Fprintf(w, "events/s=%d p50=%v p99=%v\n",
		perSec, roundDuration(percentile(lat, 50)), roundDuration(percentile(lat, 99)))
}
