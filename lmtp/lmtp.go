// Package lmtp takes bounce and feedback-loop reports by LMTP (RFC 2033),
// so that a platform's MTA delivers its bounce and feedback mailboxes
// straight to dpmon: each message is read with intake.ReadReport, and its
// events are committed before the MTA hears 250 for it.
package lmtp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/emersion/go-smtp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/internal/logtext"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
)

// Ingester commits events: *server.Server.
type Ingester interface {
	Ingest(ctx context.Context, source string, events []monitor.Event) (server.Ingested, error)
}

// DeadLetters keeps the events no mapping gave an account: *store.DB.
type DeadLetters interface {
	KeepUnmapped(ctx context.Context, kept []store.Unmapped) error
}

// Source names the reports taken by LMTP, in the unmapped record and the
// metrics.
const Source = "lmtp"

// Results a message's events are counted under; ResultNotReport counts
// messages.
const (
	ResultAccepted  = "accepted"
	ResultDuplicate = "duplicate"
	ResultUnmapped  = "unmapped"
	ResultIgnored   = "ignored"
	ResultRejected  = "rejected"
	ResultNotReport = "not_report"
)

// Options configure the server.
type Options struct {
	Ingest   Ingester
	Unmapped DeadLetters
	// Header names the returned message's header that names its account
	// (intake's default when empty); Delayed makes a DSN's delay a soft
	// bounce.
	Header  string
	Delayed bool
	// DefaultAccount is the account of reports that name none, by the
	// recipient, the header or the VERP return path; without one they are
	// kept as unmapped.
	DefaultAccount string
	// Domain is the name the server greets with.
	Domain string
	// Count, when set, is told of each message's events by result.
	Count func(result string, n int)
	Log   *slog.Logger
	// Clock is the server's time; time.Now when nil.
	Clock func() time.Time
}

// commitTimeout bounds the commit of one message's events: the MTA waits
// for the answer.
const commitTimeout = 30 * time.Second

// NewServer returns an LMTP server that takes reports as opts say.
func NewServer(opts Options) *smtp.Server {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{opts: &opts}, nil
	}))
	s.LMTP = true
	s.Domain = opts.Domain
	if s.Domain == "" {
		s.Domain = "dpmon"
	}
	s.MaxMessageBytes = intake.MaxReportBytes
	s.MaxRecipients = 100
	s.ReadTimeout = time.Minute
	s.WriteTimeout = time.Minute
	s.ErrorLog = slog.NewLogLogger(opts.Log.Handler(), slog.LevelWarn)
	return s
}

// session is one LMTP transaction at a time: the recipients of a message,
// then its data.
type session struct {
	opts  *Options
	rcpts []string
}

func (s *session) Reset()                               { s.rcpts = nil }
func (s *session) Logout() error                        { return nil }
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data is SMTP's answer for all recipients at once; over LMTP, LMTPData
// answers each.
func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var first error
	for _, rcpt := range s.rcpts {
		if err := s.deliver(rcpt, data); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *session) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	for _, rcpt := range s.rcpts {
		st.SetStatus(rcpt, s.deliver(rcpt, data))
	}
	return nil
}

// deliver takes the report for one recipient: the recipient's +tag names
// the account, if it is one (bounces+acme@…), as the address a platform
// gives each account's feedback loop.
func (s *session) deliver(rcpt string, data []byte) error {
	o := s.opts
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	now := o.Clock()
	res, err := intake.ReadReport(bytes.NewReader(data), intake.ReportOptions{Account: intake.TagAccount(rcpt), Header: o.Header, Delayed: o.Delayed}, now)
	if errors.Is(err, intake.ErrPayload) {
		// Not refused: a refusal would bounce it to whoever wrote it,
		// and a bounce mailbox gets replies and spam too.
		s.count(ResultNotReport, 1)
		o.Log.Info("LMTP message is no report; taken and dropped", "rcpt", logtext.Clean(rcpt), "reason", logtext.Clean(err.Error()))
		return nil
	}
	if err != nil {
		return tempFail("the message could not be read")
	}
	if o.DefaultAccount != "" {
		for _, e := range res.Unmapped {
			e.AccountID = o.DefaultAccount
			res.Events = append(res.Events, e)
		}
		res.Unmapped = nil
	}
	if len(res.Unmapped) > 0 {
		kept := make([]store.Unmapped, len(res.Unmapped))
		for i, e := range res.Unmapped {
			kept[i] = store.Unmapped{Source: Source, Received: now, Event: e,
				Reason: "the report names no account (recipient +tag, " + headerName(o.Header) + " header or VERP return path), and mail.default_account is not set"}
		}
		if err := o.Unmapped.KeepUnmapped(ctx, kept); err != nil {
			o.Log.Error("unmapped report events could not be kept", "err", err)
			return tempFail("dpmon cannot store this report now")
		}
	}
	got, err := o.Ingest.Ingest(ctx, "lmtp", res.Events)
	if err != nil {
		st := status.Convert(err)
		if st.Code() != codes.Unavailable && st.Code() != codes.ResourceExhausted {
			o.Log.Error("report events not committed", "code", st.Code().String(), "reason", st.Message())
		}
		return tempFail("dpmon cannot commit this report now; try again later")
	}
	s.count(ResultAccepted, got.Accepted)
	s.count(ResultDuplicate, got.Duplicates)
	s.count(ResultUnmapped, len(res.Unmapped))
	s.count(ResultIgnored, res.Ignored)
	s.count(ResultRejected, len(got.Rejected)+res.Malformed)
	if len(got.Rejected) > 0 {
		o.Log.Warn("report events refused", "rcpt", logtext.Clean(rcpt), "rejected", len(got.Rejected), "first", got.Rejected[0].Error())
	}
	return nil
}

func (s *session) count(result string, n int) {
	if s.opts.Count != nil && n > 0 {
		s.opts.Count(result, n)
	}
}

func headerName(h string) string {
	if h == "" {
		return "X-Dpmon-Account"
	}
	return h
}

// tempFail is a 451: the MTA keeps the message and tries again.
func tempFail(msg string) error {
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: msg}
}
