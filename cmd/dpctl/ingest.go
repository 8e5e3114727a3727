package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// maxBatch is the largest batch dpmon accepts.
const maxBatch = 10000

// readBatch is the batch of the commands that read events from elsewhere
// (reports, logs): a bounce may carry 4 KiB of reply, and 10,000 of them
// would pass the server's 16 MiB bound on a message, refused for good.
const readBatch = 1000

// ingestSummary is what "dpctl ingest" reports; with -o json it is printed
// as is.
type ingestSummary struct {
	Events     int         `json:"events"`
	Batches    int         `json:"batches"`
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   int         `json:"rejected"`
	Rejections []rejection `json:"rejections"`
}

// rejection is one event the server refused, located in the input.
type rejection struct {
	Line   int    `json:"line"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// add counts the server's answer to the batch f.
func (s *ingestSummary) add(f flight, resp *dpmonv1.StreamEventsResponse) {
	s.Batches++
	s.Events += f.size
	s.Accepted += int(resp.GetAccepted())
	s.Duplicates += int(resp.GetDuplicates())
	s.Rejected += len(resp.GetRejected())
	for _, r := range resp.GetRejected() {
		line := 0 // unknown: the server named an event the batch does not have
		if i := int(r.GetIndex()); i < len(f.lines) {
			line = f.lines[i]
		}
		s.Rejections = append(s.Rejections, rejection{Line: line, Field: r.GetField(), Reason: r.GetReason()})
	}
}

// runIngest implements "dpctl ingest [FILE]".
func runIngest(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ingest", "[FILE|-]")
	batch := fs.Int("batch", 1000, fmt.Sprintf("events per batch, at most %d", maxBatch))
	inflight := fs.Int("inflight", 4, "batches sent before their answer arrives")
	giveUp := fs.Duration("give-up", 5*time.Minute, "stop resending when no batch has been acknowledged for this long")
	operands, err := fs.parseN(args, 0, 1)
	if err != nil {
		return err
	}
	if *batch < 1 || *batch > maxBatch {
		return fs.usageErr(fmt.Sprintf("--batch must be between 1 and %d", maxBatch))
	}
	if *inflight < 1 {
		return fs.usageErr("--inflight must be at least 1")
	}

	in := e.stdin
	if len(operands) == 1 && operands[0] != "-" {
		f, err := os.Open(operands[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}

	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	sum, err := ingest(ctx, dpmonv1.NewEventServiceClient(conn), newEventReader(in), *batch, *inflight, *giveUp, e.stderr)
	if sum != nil {
		if werr := printIngestSummary(e, sum); err == nil {
			err = werr
		}
	}
	return err
}

// eventSource yields the events to ingest, each with its position in the
// input (a line, a message) for the rejections to name; io.EOF at the
// end.
type eventSource interface {
	Read() (ev *dpmonv1.Event, pos int, err error)
}

// ackedSource is an eventSource that learns which of its events the
// server acknowledged: follow-log saves its place in a file only past
// lines whose events are safe.
type ackedSource interface {
	eventSource
	acked(f flight, resp *dpmonv1.StreamEventsResponse)
}

// ingest sends the events of r in batches of size events and counts the
// answers. When the input turns out to be bad halfway, the batches
// already sent are still acknowledged and counted, and both the summary
// and the error are returned; resending is safe, since dpmon deduplicates.
// When the server ends the stream asking to retry later (it is starting,
// shutting down or too busy), ingest waits as asked and sends the batches
// not acknowledged again on a new stream, as retrier says. Only a nil
// summary means nothing is known about what was ingested. An ackedSource
// hears of each acknowledged batch, after the summary.
func ingest(ctx context.Context, client dpmonv1.EventServiceClient, r eventSource, size, inflight int, giveUp time.Duration, stderr io.Writer) (*ingestSummary, error) {
	sum := &ingestSummary{Rejections: []rejection{}}
	retry := retrier{giveUp: giveUp, stderr: stderr, progress: time.Now()}
	onAck := sum.add
	if a, ok := r.(ackedSource); ok {
		onAck = func(f flight, resp *dpmonv1.StreamEventsResponse) {
			sum.add(f, resp)
			// The source keeps what it lists: a follower runs for
			// months, and the summary must not grow with it.
			sum.Rejections = sum.Rejections[:0]
			a.acked(f, resp)
		}
	}
	var carried []flight // not acknowledged on an earlier stream, oldest first
	var readErr error
	readAll := false
	for {
		acked := sum.Batches
		stream, err := openBatchStream(ctx, client, inflight, onAck)
		if err != nil {
			if retry.reopen(ctx, err) {
				continue
			}
			return known(sum), err
		}
		rest, sendErr := sendEach(ctx, stream, carried)
		if sendErr == nil && !readAll {
			readErr, sendErr = sendAll(ctx, stream, r, size)
			readAll = sendErr == nil
		}
		closeErr := stream.Close(0)
		if sendErr == nil && closeErr == nil {
			return sum, readErr
		}
		// A batch is carried until it is acknowledged: those the stream
		// did not answer, and those it never got.
		carried = append(stream.unacknowledged(), rest...)
		err = cmp.Or(closeErr, sendErr)
		if !retry.again(ctx, err, sum.Batches > acked) {
			return known(sum), err
		}
	}
}

// known returns sum, or nil when no batch was acknowledged.
func known(sum *ingestSummary) *ingestSummary {
	if sum.Batches == 0 {
		return nil
	}
	return sum
}

// sendEach sends the batches fs on stream, oldest first, up to the first
// that fails, and returns those it did not give to the stream.
func sendEach(ctx context.Context, stream *batchStream, fs []flight) ([]flight, error) {
	for i, f := range fs {
		if err := stream.Send(ctx, f.events, f.lines); err != nil {
			return fs[i+1:], err
		}
	}
	return nil, nil
}

// sendAll reads r to its end and sends its events in batches of size. It
// returns why reading stopped early (bad input) apart from why sending
// failed (the stream).
func sendAll(ctx context.Context, stream *batchStream, r eventSource, size int) (readErr, sendErr error) {
	for {
		events := make([]*dpmonv1.Event, 0, size)
		lines := make([]int, 0, size)
		var err error
		for len(events) < size {
			ev, line, rerr := r.Read()
			if rerr != nil {
				err = rerr
				break
			}
			events = append(events, ev)
			lines = append(lines, line)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err, nil // bad input: send nothing from the batch it is in
		}
		if len(events) > 0 {
			if serr := stream.Send(ctx, events, lines); serr != nil {
				return nil, serr
			}
		}
		if err != nil {
			return nil, nil
		}
	}
}

// printIngestSummary prints sum as a table or as JSON.
func printIngestSummary(e *env, sum *ingestSummary) error {
	if e.output == formatJSON {
		return writeJSON(e.stdout, sum)
	}
	tw := newTable(e.stdout)
	fmt.Fprintf(tw, "accepted\t%d\n", sum.Accepted)
	fmt.Fprintf(tw, "duplicates\t%d\n", sum.Duplicates)
	fmt.Fprintf(tw, "rejected\t%d\n", sum.Rejected)
	if len(sum.Rejections) > 0 {
		fmt.Fprintf(tw, "\nLINE\tFIELD\tREASON\n")
		for _, r := range sum.Rejections {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", r.Line, r.Field, r.Reason)
		}
	}
	return tw.Flush()
}
