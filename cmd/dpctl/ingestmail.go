package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/internal/eventpb"
	"github.com/dpmon/dpmon/monitor"
)

// mailSummary is what "dpctl ingest-mail" reports; with -o json it is
// printed as is. Nothing read is left out: a message that is no report,
// and an event that names no account, are listed.
type mailSummary struct {
	Messages   int              `json:"messages"`
	Events     int              `json:"events"`
	Accepted   int              `json:"accepted"`
	Duplicates int              `json:"duplicates"`
	Ignored    int              `json:"ignored"`
	NotReports []notReport      `json:"not_reports"`
	Unmapped   []unmappedReport `json:"unmapped"`
	Rejections []mailRejection  `json:"rejections"`
}

type notReport struct {
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

type unmappedReport struct {
	Message   string `json:"message"`
	EventID   string `json:"event_id"`
	Recipient string `json:"recipient"`
}

type mailRejection struct {
	Message string `json:"message"`
	Field   string `json:"field"`
	Reason  string `json:"reason"`
}

// runIngestMail implements "dpctl ingest-mail [--account ID] [FILE|DIR ...]".
func runIngestMail(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ingest-mail", "[FILE|DIR ...]")
	account := fs.String("account", "", "the account of every report (else the header, else the VERP return path)")
	header := fs.String("header", "X-Dpmon-Account", "header of the returned message that names its account")
	delayed := fs.Bool("delayed", false, "count a DSN's delayed recipient as a soft bounce")
	inflight := fs.Int("inflight", 4, "batches sent before their answer arrives")
	giveUp := fs.Duration("give-up", 5*time.Minute, "stop resending when no batch has been acknowledged for this long")
	operands, err := fs.parseN(args, 0, 1<<20)
	if err != nil {
		return err
	}
	if *account != "" {
		if reason := monitor.CheckID(*account); reason != "" {
			return fs.usageErr("--account " + reason)
		}
	}
	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	src := &mailSource{box: newMailbox(operands, e.stdin), opts: intake.ReportOptions{Account: *account, Header: *header, Delayed: *delayed},
		sum: &mailSummary{NotReports: []notReport{}, Unmapped: []unmappedReport{}, Rejections: []mailRejection{}}}
	got, err := ingest(ctx, dpmonv1.NewEventServiceClient(conn), src, readBatch, *inflight, *giveUp, e.stderr)
	sum := src.sum
	if got != nil {
		sum.Events, sum.Accepted, sum.Duplicates = got.Events, got.Accepted, got.Duplicates
		for _, r := range got.Rejections {
			sum.Rejections = append(sum.Rejections, mailRejection{Message: src.nameOf(r.Line), Field: r.Field, Reason: r.Reason})
		}
	}
	if got != nil || err == nil {
		if werr := printMailSummary(e, sum); err == nil {
			err = werr
		}
	}
	return err
}

// mailSource reads the mailbox's reports into events, as an eventSource
// whose positions number the messages from 1.
type mailSource struct {
	box   *mailbox
	opts  intake.ReportOptions
	sum   *mailSummary
	names []string // of the messages read, by position - 1
	queue []*dpmonv1.Event
}

func (s *mailSource) nameOf(pos int) string {
	if pos < 1 || pos > len(s.names) {
		return "?"
	}
	return s.names[pos-1]
}

func (s *mailSource) Read() (*dpmonv1.Event, int, error) {
	for len(s.queue) == 0 {
		msg, err := s.box.next()
		if err != nil {
			return nil, len(s.names), err
		}
		s.sum.Messages++
		s.names = append(s.names, msg.name)
		res, err := intake.ReadReport(bytes.NewReader(msg.data), s.opts, time.Now())
		if errors.Is(err, intake.ErrPayload) {
			s.sum.NotReports = append(s.sum.NotReports, notReport{Message: msg.name, Reason: err.Error()})
			continue
		}
		if err != nil {
			return nil, len(s.names), fmt.Errorf("%s: %w", msg.name, err)
		}
		s.sum.Ignored += res.Ignored
		for _, ev := range res.Unmapped {
			s.sum.Unmapped = append(s.sum.Unmapped, unmappedReport{Message: msg.name, EventID: ev.ID, Recipient: ev.Recipient})
		}
		for i := range res.Events {
			s.queue = append(s.queue, eventpb.From(res.Events[i]))
		}
	}
	ev := s.queue[0]
	s.queue = s.queue[1:]
	return ev, len(s.names), nil
}

// printMailSummary prints sum as a table or as JSON.
func printMailSummary(e *env, sum *mailSummary) error {
	if e.output == formatJSON {
		return writeJSON(e.stdout, sum)
	}
	tw := newTable(e.stdout)
	fmt.Fprintf(tw, "messages\t%d\n", sum.Messages)
	fmt.Fprintf(tw, "not reports\t%d\n", len(sum.NotReports))
	fmt.Fprintf(tw, "accepted\t%d\n", sum.Accepted)
	fmt.Fprintf(tw, "duplicates\t%d\n", sum.Duplicates)
	fmt.Fprintf(tw, "ignored\t%d\n", sum.Ignored)
	fmt.Fprintf(tw, "unmapped\t%d\n", len(sum.Unmapped))
	fmt.Fprintf(tw, "rejected\t%d\n", len(sum.Rejections))
	if len(sum.NotReports) > 0 {
		fmt.Fprintf(tw, "\nNOT A REPORT\tWHY\n")
		for _, n := range sum.NotReports {
			fmt.Fprintf(tw, "%s\t%s\n", cell(n.Message), cell(n.Reason))
		}
	}
	if len(sum.Unmapped) > 0 {
		fmt.Fprintf(tw, "\nNO ACCOUNT (give --account)\tEVENT ID\tRECIPIENT\n")
		for _, u := range sum.Unmapped {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", cell(u.Message), cell(u.EventID), cell(u.Recipient))
		}
	}
	if len(sum.Rejections) > 0 {
		fmt.Fprintf(tw, "\nMESSAGE\tFIELD\tREASON\n")
		for _, r := range sum.Rejections {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", cell(r.Message), cell(r.Field), cell(r.Reason))
		}
	}
	return tw.Flush()
}
