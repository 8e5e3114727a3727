// Package lmtp takes bounce and feedback-loop reports by LMTP (RFC 2033),
// so that a platform's MTA delivers its bounce and feedback mailboxes
// straight to dpmon: each message is read with intake.ReadReport, and its
// events are committed before the MTA hears 250 for it.
package lmtp

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/internal/logtext"
	"github.com/dpmon/dpmon/server"
)

// Taker commits what a report holds, and keeps what it cannot commit as
// unmapped: *server.Server.
type Taker interface {
	Take(ctx context.Context, res intake.Result, opts server.TakeOptions) (server.Taken, error)
}

// Source names the reports taken by LMTP, in the unmapped record and the
// metrics.
const Source = "lmtp"

// ResultNotReport counts the messages that are no report, beside the
// results of server.TakenResults (which count events).
const ResultNotReport = "not_report"

// Options configure the server.
type Options struct {
	Take Taker
	// Header names the returned message's header that names its account
	// (intake's default when empty); Delayed makes a DSN's delay a soft
	// bounce.
	Header  string
	Delayed bool
	// DefaultAccount is the account of reports that name none, by the
	// recipient, the header or the VERP return path; without one they are
	// kept as unmapped.
	DefaultAccount string
	// CreateAccounts lets reports create the accounts they name. Anyone
	// who can mail a feedback address can write a report, so by default
	// only DefaultAccount is created, and the events of other accounts
	// that do not exist are kept as unmapped.
	CreateAccounts bool
	// MaxSessions bounds the connections served at once
	// (DefaultMaxSessions when 0); more are refused with 421.
	MaxSessions int
	// Domain is the name the server greets with.
	Domain string
	// Count, when set, is told of each message's events by result.
	Count func(result string, n int)
	Log   *slog.Logger
	// Clock is the server's time; time.Now when nil.
	Clock func() time.Time
}

// DefaultMaxSessions bounds the connections: each may hold a message of
// up to intake.MaxReportBytes.
const DefaultMaxSessions = 32

// commitTimeout bounds the commit of one message's events: the MTA waits
// for the answer.
const commitTimeout = 30 * time.Second

// Server serves LMTP, and stops without cutting a delivery short.
type Server struct {
	smtp *smtp.Server
	opts Options

	mu       sync.Mutex
	sessions int
	draining bool
	inflight sync.WaitGroup // deliveries begun before draining
}

// NewServer returns an LMTP server that takes reports as opts say.
func NewServer(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	s := &Server{opts: opts}
	ss := smtp.NewServer(smtp.BackendFunc(s.newSession))
	ss.LMTP = true
	ss.Domain = opts.Domain
	if ss.Domain == "" {
		ss.Domain = "dpmon"
	}
	ss.MaxMessageBytes = intake.MaxReportBytes
	ss.MaxRecipients = 100
	ss.ReadTimeout = time.Minute
	ss.WriteTimeout = time.Minute
	ss.ErrorLog = slog.NewLogLogger(opts.Log.Handler(), slog.LevelWarn)
	s.smtp = ss
	return s
}

// Serve serves LMTP on lis until Shutdown.
func (s *Server) Serve(lis net.Listener) error { return s.smtp.Serve(lis) }

// Shutdown stops taking deliveries, waits for those begun to be answered
// (until ctx is done), then closes every connection: an MTA's cached idle
// connection must not hold the shutdown up.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if cerr := s.smtp.Close(); cerr != nil && !errors.Is(cerr, smtp.ErrServerClosed) && err == nil {
		err = cerr
	}
	return err
}

// errBusy and errClosing refuse a connection or a delivery for now: the
// MTA tries again later.
var (
	errBusy    = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "too many connections; try again later"}
	errClosing = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "dpmon is shutting down; try again later"}
)

func (s *Server) newSession(*smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return nil, errClosing
	}
	if s.sessions >= s.opts.MaxSessions {
		return nil, errBusy
	}
	s.sessions++
	return &session{srv: s}, nil
}

// begin counts a delivery in, unless the server is draining.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.inflight.Add(1)
	return true
}

// session is one connection: the recipients of a message, then its data.
type session struct {
	srv    *Server
	rcpts  []string
	closed bool
}

func (s *session) Reset() { s.rcpts = nil }

func (s *session) Logout() error {
	if !s.closed {
		s.closed = true
		s.srv.mu.Lock()
		s.srv.sessions--
		s.srv.mu.Unlock()
	}
	return nil
}

func (s *session) Mail(string, *smtp.MailOptions) error { return nil }

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}

// Data is SMTP's answer for all recipients at once; over LMTP, LMTPData
// answers each.
func (s *session) Data(r io.Reader) error {
	var first error
	err := s.deliverAll(r, func(_ string, err error) {
		if first == nil {
			first = err
		}
	})
	return cmp.Or(err, first)
}

func (s *session) LMTPData(r io.Reader, st smtp.StatusCollector) error {
	return s.deliverAll(r, st.SetStatus)
}

// deliverAll reads the message and delivers it to each recipient, telling
// answer how each went; it fails as a whole only when the message cannot
// be read or the server is closing.
func (s *session) deliverAll(r io.Reader, answer func(rcpt string, err error)) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !s.srv.begin() {
		return errClosing
	}
	defer s.srv.inflight.Done()
	for _, rcpt := range s.rcpts {
		answer(rcpt, s.srv.deliver(rcpt, data))
	}
	return nil
}

// deliver takes the report for one recipient: the recipient's +tag names
// the account, if it is one (fbl+acme@…), as the address a platform gives
// each account's feedback loop.
func (s *Server) deliver(rcpt string, data []byte) error {
	o := &s.opts
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
	got, err := o.Take.Take(ctx, res, server.TakeOptions{Source: Source, Kept: Source, Received: now,
		Reason:    "the report names no account (recipient +tag, " + headerName(o.Header) + " header or VERP return path), and mail.default_account is not set",
		MayCreate: func(account string) bool { return o.CreateAccounts || account == o.DefaultAccount }})
	if err != nil {
		var later *server.RetryLater
		if !errors.As(err, &later) {
			o.Log.Error("report events not committed", "err", err)
		}
		return tempFail("dpmon cannot commit this report now; try again later")
	}
	got.Count(res, s.count)
	if len(got.Rejected) > 0 {
		o.Log.Warn("report events refused", "rcpt", logtext.Clean(rcpt), "rejected", len(got.Rejected), "first", logtext.Clean(got.Rejected[0].Error()))
	}
	return nil
}

func (s *Server) count(result string, n int) {
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
