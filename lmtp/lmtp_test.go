package lmtp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// env is a real store and server behind an LMTP listener on loopback.
type env struct {
	db    *store.DB
	srv   *server.Server
	clock *monitortest.Clock
	addr  string

	mu     sync.Mutex
	counts map[string]int
}

func newEnv(t *testing.T, now time.Time, configure func(*Options)) *env {
	t.Helper()
	return newEnvTB(t, now, configure)
}

func newEnvTB(t testing.TB, now time.Time, configure ...func(*Options)) *env {
	t.Helper()
	c := monitortest.New(now)
	db, err := store.Open(t.TempDir(), store.Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(),
		Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(db, server.Options{Clock: c.Now})
	e := &env{db: db, srv: srv, clock: c, counts: make(map[string]int)}
	opts := Options{Take: srv, Clock: c.Now, Log: slog.New(slog.DiscardHandler), Count: func(result string, n int) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.counts[result] += n
	}}
	for _, c := range configure {
		if c != nil {
			c(&opts)
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(opts)
	go s.Serve(lis)
	e.addr = lis.Addr().String()
	t.Cleanup(func() {
		s.Shutdown(context.Background())
		srv.Drain()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

func (e *env) counted(result string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[result]
}

// deliver hands a message to the server as an MTA's LMTP client does and
// returns the answer for each recipient (nil: 250).
func (e *env) deliver(t *testing.T, data []byte, rcpts ...string) map[string]error {
	t.Helper()
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mta.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	_, err = w.CloseWithLMTPResponse()
	out := make(map[string]error, len(rcpts))
	for _, r := range rcpts {
		out[r] = nil
	}
	var lmtpErr smtp.LMTPDataError
	if errors.As(err, &lmtpErr) {
		for r, e := range lmtpErr {
			out[r] = e
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) window(t *testing.T, account string) monitor.WindowStats {
	t.Helper()
	a, err := e.db.Account(context.Background(), account)
	if err != nil {
		t.Fatalf("account %s: %v", account, err)
	}
	return a.Status(e.clock.Now(), monitor.DefaultPolicy()).Windows[0]
}

func sample(t *testing.T, kind, name string) []byte {
	t.Helper()
	f := monitortest.OpenCorpus(t, "samples", kind, name)
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestCorpusReports delivers every DSN and ARF sample of the corpus by
// LMTP, each to a server whose clock shows the report's time.
func TestCorpusReports(t *testing.T) {
	for _, tc := range monitortest.ReportSamples {
		data := sample(t, tc.Kind, tc.File)
		res, err := intake.ReadReport(bytes.NewReader(data), intake.ReportOptions{Account: "acme"}, t0)
		if err != nil {
			t.Fatalf("%s: %v", tc.File, err)
		}
		at := t0
		for _, ev := range res.Events {
			at = ev.OccurredAt.Add(time.Minute)
		}
		e := newEnv(t, at, func(o *Options) { o.CreateAccounts = true })
		// The recipient's +tag names the account.
		got := e.deliver(t, data, "fbl+acme@dpmon.test")
		if got["fbl+acme@dpmon.test"] != nil || e.counted(server.ResultAccepted) != tc.Accepted || e.counted(server.ResultIgnored) != tc.Ignored {
			t.Errorf("%s: answer %v, counted %v", tc.File, got, e.counts)
			continue
		}
		if tc.Accepted > 0 {
			w := e.window(t, "acme")
			a, _ := e.db.Account(context.Background(), "acme")
			if auth := a.Reputation(e.clock.Now(), monitor.DefaultPolicy()).AuthFailures; auth != tc.AuthFailures {
				t.Errorf("%s: %d auth failures, want %d", tc.File, auth, tc.AuthFailures)
			}
			if w.HardBounces != tc.HardBounces || w.Complaints != tc.Complaints || w.Blocks != tc.Blocks {
				t.Errorf("%s: %d hard bounces, %d complaints, %d blocks; want %d, %d, %d", tc.File, w.HardBounces, w.Complaints, w.Blocks, tc.HardBounces, tc.Complaints, tc.Blocks)
			}
		}
		// Delivered again (an MTA's retry after a lost answer): nothing new.
		e.deliver(t, data, "fbl+acme@dpmon.test")
		if e.counted(server.ResultDuplicate) != tc.Accepted {
			t.Errorf("%s again: counted %v", tc.File, e.counts)
		}
	}
}

func TestAccountsAndUnmapped(t *testing.T) {
	data := sample(t, "arf", "sisimai-arf-01.eml")
	res, err := intake.ReadReport(bytes.NewReader(data), intake.ReportOptions{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	at := res.Unmapped[0].OccurredAt.Add(time.Minute)

	// No tag, no header, no default: kept as unmapped, answered 250.
	e := newEnv(t, at, nil)
	if got := e.deliver(t, data, "fbl@dpmon.test"); got["fbl@dpmon.test"] != nil {
		t.Fatalf("got %v", got)
	}
	kept, _, err := e.db.Unmapped(context.Background(), Source, 10, "")
	if err != nil || len(kept) != 1 || kept[0].Event.Type != monitor.EventComplaint || e.counted(server.ResultUnmapped) != 1 {
		t.Errorf("unmapped: got %+v, %v, counted %v", kept, err, e.counts)
	}

	// Two recipients of one delivery, each answered. The default account
	// is created; an account a tag names is not, as anyone may write the
	// tag: its events are kept as unmapped, and delivered again, count
	// once the account exists.
	e = newEnv(t, at, func(o *Options) { o.DefaultAccount = "fallback" })
	got := e.deliver(t, data, "fbl+acme@dpmon.test", "fbl@dpmon.test")
	if got["fbl+acme@dpmon.test"] != nil || got["fbl@dpmon.test"] != nil {
		t.Fatalf("got %v", got)
	}
	if n := e.window(t, "fallback").Complaints; n != 1 {
		t.Errorf("fallback: %d complaints, want 1", n)
	}
	kept, _, err = e.db.Unmapped(context.Background(), Source, 10, "")
	if err != nil || len(kept) != 1 || kept[0].Event.AccountID != "acme" || !strings.Contains(kept[0].Reason, `account "acme" does not exist`) {
		t.Fatalf("unknown account: kept %+v, %v", kept, err)
	}
	if _, err := e.db.UpdateAccount(context.Background(), "acme", monitor.Actor{Name: "admin", Role: "admin"}, func(*monitor.Account) error { return nil }); err != nil {
		t.Fatal(err)
	}
	e.deliver(t, data, "fbl+acme@dpmon.test")
	if n := e.window(t, "acme").Complaints; n != 1 {
		t.Errorf("acme, once created: %d complaints, want 1", n)
	}
}

func TestNotAReportIsTakenAndCounted(t *testing.T) {
	e := newEnv(t, t0, nil)
	msg := []byte("From: someone@example.com\r\nTo: bounces@acme.example\r\nSubject: re: your newsletter\r\n\r\nPlease stop.\r\n")
	if got := e.deliver(t, msg, "bounces@dpmon.test"); got["bounces@dpmon.test"] != nil {
		t.Errorf("got %v, want 250: a refusal would bounce it to its writer", got)
	}
	if e.counted(ResultNotReport) != 1 {
		t.Errorf("counted %v, want one not_report", e.counts)
	}
}

func TestCommitFailureIsTemporary(t *testing.T) {
	data := sample(t, "dsn", "sisimai-lhost-sendmail-05.eml")
	e := newEnv(t, t0, func(o *Options) { o.CreateAccounts = true })
	e.srv.Drain()
	got := e.deliver(t, data, "bounces+acme@dpmon.test")
	var se *smtp.SMTPError
	if err := got["bounces+acme@dpmon.test"]; !errors.As(err, &se) || se.Code != 451 {
		t.Errorf("draining server: got %v, want 451 so that the MTA retries", err)
	}
}
