package intake

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// A message submitted by the SASL user beta with the sender
// news@Acme.example, as Postfix logs it from submission to removal.
const (
	pfSubmitted = "Dec  3 10:15:01 mail postfix/submission/smtpd[2101]: 3F1A2B4C5D: client=app1.acme.example[192.0.2.10], sasl_method=PLAIN, sasl_username=beta"
	pfCleanup   = "Dec  3 10:15:01 mail postfix/cleanup[2105]: 3F1A2B4C5D: message-id=<20261203101501.1@acme.example>"
	pfQueued    = "Dec  3 10:15:01 mail postfix/qmgr[1033]: 3F1A2B4C5D: from=<news@Acme.example>, size=4182, nrcpt=5 (queue active)"
	pfSent      = "Dec  3 10:15:02 mail postfix/smtp[2110]: 3F1A2B4C5D: to=<jane@example.org>, relay=mx1.example.org[198.51.100.7]:25, delay=1.1, delays=0.05/0.01/0.4/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9C8B7A6D)"
	pfBounced   = "Dec  3 10:15:02 mail postfix/smtp[2110]: 3F1A2B4C5D: to=<nobody@example.org>, relay=mx1.example.org[198.51.100.7]:25, delay=1.2, delays=0.05/0.01/0.4/0.7, dsn=5.1.1, status=bounced (host mx1.example.org[198.51.100.7] said: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))"
	pfBlocked   = "Dec  3 10:15:02 mail postfix/smtp[2112]: 3F1A2B4C5D: to=<ann@example.com>, relay=mx.example.com[203.0.113.20]:25, delay=0.9, delays=0.05/0.01/0.5/0.3, dsn=5.7.1, status=bounced (host mx.example.com[203.0.113.20] refused to talk to me: 554 5.7.1 Service unavailable; client [192.0.2.1] blocked using a DNSBL)"
	pfDeferred  = "Dec  3 10:15:03 mail postfix/smtp[2111]: 3F1A2B4C5D: to=<bob@example.net>, relay=none, delay=2, delays=0.05/0.01/2/0, dsn=4.4.1, status=deferred (connect to mx.example.net[203.0.113.9]:25: Connection timed out)"
	pfLocal     = "Dec  3 10:15:02 mail postfix/local[2120]: 3F1A2B4C5D: to=<ghost@mail.acme.example>, relay=local, delay=0.2, delays=0.1/0.05/0/0.05, dsn=5.1.1, status=bounced (unknown user: \"ghost\")"
	pfRemoved   = "Dec  3 10:15:04 mail postfix/qmgr[1033]: 3F1A2B4C5D: removed"
)

// pfRead reads lines with a fresh reader at now and returns what the last
// one made.
func pfRead(o PostfixOptions, lines ...string) (monitor.Event, bool, error) {
	r := NewPostfixReader(o)
	var (
		e   monitor.Event
		ok  bool
		err error
	)
	for _, l := range lines {
		e, ok, err = r.Line(l, now)
	}
	return e, ok, err
}

func TestPostfixDeliveries(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 15, 2, 0, time.UTC)
	bySender := PostfixOptions{Mapping: Mapping{From: "sender_domain", Default: "fallback"}}
	for _, tc := range []struct {
		name    string
		line    string
		o       PostfixOptions
		typ     monitor.EventType
		verdict monitor.BounceClass
		code    int
		status  string
		at      time.Time
	}{
		{"sent", pfSent, bySender, monitor.EventDelivery, 0, 0, "", at},
		{"bounced", pfBounced, bySender, monitor.EventBounce, monitor.BounceHard, 550, "5.1.1", at},
		{"refused", pfBlocked, bySender, monitor.EventBounce, monitor.BounceBlock, 554, "5.7.1", at},
		{"local agent", pfLocal, bySender, monitor.EventBounce, monitor.BounceHard, 0, "5.1.1", at},
		{"deferred, asked", pfDeferred, PostfixOptions{Mapping: bySender.Mapping, Deferred: true}, monitor.EventBounce, monitor.BounceSoft, 0, "4.4.1", at.Add(time.Second)},
		{"RFC 3339 stamp", strings.Replace(pfSent, "Dec  3 10:15:02", "2026-12-03T11:15:02.123456+01:00", 1), bySender,
			monitor.EventDelivery, 0, 0, "", at.Add(123456 * time.Microsecond)},
		{"short-iso stamp", strings.Replace(pfBounced, "Dec  3 10:15:02", "2026-12-03T10:15:02+0000", 1), bySender,
			monitor.EventBounce, monitor.BounceHard, 550, "5.1.1", at},
	} {
		e, ok, err := pfRead(tc.o, pfSubmitted, pfCleanup, pfQueued, tc.line)
		if err != nil || !ok {
			t.Fatalf("%s: got %v, %v; want an event", tc.name, ok, err)
		}
		if e.Type != tc.typ || !e.OccurredAt.Equal(tc.at) || e.Sender != "news@Acme.example" || e.AccountID != "acme.example" ||
			e.MessageID != "<20261203101501.1@acme.example>" || monitor.CheckID(e.ID) != "" {
			t.Errorf("%s: got %+v", tc.name, e)
		}
		if err := e.Validate(e.OccurredAt, monitor.DefaultLimits()); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if tc.typ == monitor.EventBounce {
			e.Decide()
			if b := e.Bounce; b.Verdict != tc.verdict || b.SMTPCode != tc.code || b.EnhancedStatus != tc.status || strings.Contains(b.Diagnostic, " said:") {
				t.Errorf("%s: bounce %+v, want %v with %d %q", tc.name, *b, tc.verdict, tc.code, tc.status)
			}
		}
	}
}

func TestPostfixSkipped(t *testing.T) {
	o := PostfixOptions{Mapping: Mapping{Default: "acme"}}
	for name, lines := range map[string][]string{
		"not postfix":      {"Dec  3 10:15:02 mail sshd[881]: Accepted publickey for deploy from 192.0.2.4 port 52144 ssh2"},
		"connect":          {"Dec  3 10:15:00 mail postfix/smtpd[2101]: connect from app1.acme.example[192.0.2.10]"},
		"rejected":         {"Dec  3 10:15:00 mail postfix/smtpd[2101]: NOQUEUE: reject: RCPT from unknown[203.0.113.50]: 554 5.7.1 <x@acme.example>: Relay access denied; from=<a@example.com> to=<x@acme.example> proto=ESMTP helo=<spam>"},
		"warning":          {"Dec  3 10:15:02 mail postfix/smtp[2110]: 3F1A2B4C5D: host mx1.example.org[198.51.100.7] said: 451 4.7.1 Try again later (in reply to RCPT TO command)"},
		"deferred":         {pfQueued, pfDeferred},
		"probe":            {"Dec  3 10:15:02 mail postfix/smtp[2110]: 3F1A2B4C5D: to=<jane@example.org>, relay=mx1.example.org[198.51.100.7]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)"},
		"content filter":   {"Dec  3 10:15:02 mail postfix/smtp[2110]: 3F1A2B4C5D: to=<jane@example.org>, relay=127.0.0.1[127.0.0.1]:10024, delay=0.4, delays=0.1/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 7E6D5C4B)"},
		"postfix's notice": {"Dec  3 10:15:05 mail postfix/qmgr[1033]: 5A4B3C2D1E: from=<>, size=2512, nrcpt=1 (queue active)", strings.ReplaceAll(pfSent, "3F1A2B4C5D", "5A4B3C2D1E")},
		"empty":            {""},
		"context":          {pfSubmitted, pfCleanup, pfQueued, pfRemoved},
	} {
		if e, ok, err := pfRead(o, lines...); ok || err != nil {
			t.Errorf("%s: got %+v, %v, %v; want nothing", name, e, ok, err)
		}
	}
	for name, line := range map[string]string{
		"no status":    "Dec  3 10:15:02 mail postfix/smtp[2110]: 3F1A2B4C5D: to=<jane@example.org>, relay=none, delay=1",
		"no end":       "Dec  3 10:15:02 mail postfix/smtp[2110]: 3F1A2B4C5D: to=<jane@example.org",
		"bad stamp":    strings.Replace(pfSent, "Dec  3", "Dex 33", 1),
		"bad RFC 3339": strings.Replace(pfSent, "Dec  3 10:15:02", "2026-13-03T10:15:02Z", 1),
		"recipient":    strings.Replace(pfSent, "jane@example.org", "jane", 1),
	} {
		if e, ok, err := pfRead(o, line); ok || !errors.Is(err, ErrPayload) {
			t.Errorf("%s: got %+v, %v, %v; want ErrPayload", name, e, ok, err)
		}
	}
}

func TestPostfixMapping(t *testing.T) {
	for _, tc := range []struct {
		from  string
		lines []string
		want  string
	}{
		{"sender_domain", []string{pfQueued, pfBounced}, "acme.example"},
		{"sasl_username", []string{pfSubmitted, pfQueued, pfBounced}, "beta"},
		{"sasl_username", []string{pfQueued, pfBounced}, "fallback"},
		{"sender_domain", []string{pfBounced}, "fallback"},
		{"sender_domain", []string{pfQueued, pfRemoved, pfBounced}, "fallback"}, // removed, forgotten
		{"", []string{pfSubmitted, pfQueued, pfBounced}, "fallback"},
	} {
		e, ok, err := pfRead(PostfixOptions{Mapping: Mapping{From: tc.from, Default: "fallback"}}, tc.lines...)
		if !ok || err != nil || e.AccountID != tc.want {
			t.Errorf("%s after %d lines: got account %q, %v, %v; want %q", tc.from, len(tc.lines), e.AccountID, ok, err, tc.want)
		}
	}
	if e, ok, _ := pfRead(PostfixOptions{Mapping: Mapping{From: "sender_domain"}}, pfBounced); !ok || e.AccountID != "" {
		t.Errorf("no sender, no default: got %+v, %v; want an unmapped event", e, ok)
	}
}

func TestPostfixIDs(t *testing.T) {
	o := PostfixOptions{Mapping: Mapping{Default: "acme"}, Deferred: true}
	id := func(line string) string {
		t.Helper()
		e, ok, err := pfRead(o, pfQueued, line)
		if !ok || err != nil {
			t.Fatalf("%q: got %v, %v; want an event", line, ok, err)
		}
		return e.ID
	}
	later := strings.Replace(pfDeferred, "10:15:03", "10:45:03", 1)
	ids := map[string]string{}
	for name, line := range map[string]string{
		"sent": pfSent, "bounced": pfBounced, "deferred": pfDeferred, "deferred later": later,
		"sent to nobody": strings.Replace(pfSent, "jane@", "nobody@", 1), "other message": strings.ReplaceAll(pfSent, "3F1A2B4C5D", "3F1A2B4C5E"),
	} {
		got := id(line)
		if got != id(line) {
			t.Errorf("%s: the same line made two ids", name)
		}
		if other, seen := ids[got]; seen {
			t.Errorf("%s and %s: the same id %s", name, other, got)
		}
		ids[got] = name
	}
	// The same queue id and recipient at another time is another event:
	// short queue ids come back within days.
	if id(pfSent) == id(strings.Replace(pfSent, "Dec  3 10:15:02", "Dec  5 08:01:44", 1)) {
		t.Error("a queue id used again made the same id")
	}
}

func TestSyslogYear(t *testing.T) {
	for _, tc := range []struct {
		now   time.Time
		stamp string
		want  time.Time
	}{
		{time.Date(2027, 1, 1, 0, 30, 0, 0, time.UTC), "Dec 31 23:59:58", time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC)},
		{time.Date(2026, 12, 30, 12, 0, 0, 0, time.UTC), "Dec 31 06:00:00", time.Date(2026, 12, 31, 6, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC), "Dec 3 10:15:02.250", time.Date(2026, 12, 3, 10, 15, 2, 250e6, time.UTC)},
		{time.Date(2029, 1, 5, 0, 0, 0, 0, time.UTC), "Feb 29 08:00:00", time.Date(2028, 2, 29, 8, 0, 0, 0, time.UTC)},
		{time.Date(2026, 6, 1, 0, 0, 0, 0, time.FixedZone("CEST", 7200)), "Jun 1 01:00:00", time.Date(2026, 5, 31, 23, 0, 0, 0, time.UTC)},
	} {
		got, ok := syslogTime(tc.stamp, tc.now)
		if !ok || !got.Equal(tc.want) {
			t.Errorf("%q at %v: got %v, %v; want %v", tc.stamp, tc.now, got, ok, tc.want)
		}
	}
}

func TestPostfixBound(t *testing.T) {
	r := NewPostfixReader(PostfixOptions{Mapping: Mapping{From: "sender_domain", Default: "fallback"}})
	queued := func(i int) string {
		return fmt.Sprintf("Dec  3 10:15:01 mail postfix/qmgr[1033]: Q%08X: from=<news@acme%d.example>, size=100, nrcpt=1 (queue active)", i, i)
	}
	sent := func(i int) string { return strings.ReplaceAll(pfSent, "3F1A2B4C5D", fmt.Sprintf("Q%08X", i)) }
	for i := range MaxPostfixMessages + 1 {
		r.Line(queued(i), now)
	}
	if n := len(r.recent) + len(r.older); n > MaxPostfixMessages {
		t.Errorf("%d messages kept, want at most %d", n, MaxPostfixMessages)
	}
	for i, want := range map[int]string{0: "fallback", MaxPostfixMessages: fmt.Sprintf("acme%d.example", MaxPostfixMessages)} {
		if e, _, _ := r.Line(sent(i), now); e.AccountID != want {
			t.Errorf("message %d: got account %q, want %q", i, e.AccountID, want)
		}
	}
}

// FuzzPostfixLine: no line makes the reader fail other than with
// ErrPayload, nor make an event dpmon would refuse for its form.
func FuzzPostfixLine(f *testing.F) {
	for _, l := range []string{pfSubmitted, pfCleanup, pfQueued, pfSent, pfBounced, pfBlocked, pfDeferred, pfLocal, pfRemoved,
		strings.Replace(pfSent, "Dec  3 10:15:02", "2026-12-03T10:15:02.123456+00:00", 1)} {
		f.Add(pfQueued, l)
	}
	f.Fuzz(func(t *testing.T, context, line string) {
		r := NewPostfixReader(PostfixOptions{Mapping: Mapping{From: "sender_domain", Default: "acme"}, Deferred: true})
		r.Line(context, now)
		e, ok, err := r.Line(line, now)
		var res Result
		if ok {
			res.add(e, e.AccountID)
		}
		checkParsed(t, res, err)
		// The server refuses, as too old, a stamp of a year before 1.
		if ok && !e.OccurredAt.Before(time.Time{}) && e.Validate(e.OccurredAt, monitor.DefaultLimits()) != nil {
			t.Fatalf("%+v: %v", e, e.Validate(e.OccurredAt, monitor.DefaultLimits()))
		}
	})
}

func TestPostfixHeaderChecksTag(t *testing.T) {
	o := PostfixOptions{Mapping: Mapping{From: "header.X-Dpmon-Account", Default: "fallback"}}
	tagged := "Dec  3 10:15:01 mail postfix/cleanup[2105]: 3F1A2B4C5D: info: header X-Dpmon-Account: beta from client.example[192.0.2.10]; " +
		"from=<news@Acme.example> to=<jane@example.org> proto=ESMTP helo=<client.example>"
	other := strings.Replace(tagged, "X-Dpmon-Account: beta", "Subject: X-Dpmon-Account: gamma", 1)
	for _, tc := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"tagged", []string{pfSubmitted, tagged, pfCleanup, pfQueued, pfSent}, "beta"},
		{"another header", []string{pfSubmitted, other, pfCleanup, pfQueued, pfSent}, "fallback"},
		{"untagged", []string{pfSubmitted, pfCleanup, pfQueued, pfSent}, "fallback"},
	} {
		e, ok, err := pfRead(o, tc.lines...)
		if err != nil || !ok || e.AccountID != tc.want {
			t.Errorf("%s: got %q, %v, %v; want account %q", tc.name, e.AccountID, ok, err, tc.want)
		}
	}
	if v, ok := loggedHeader("x-dpmon-account:  beta  from localhost[127.0.0.1]; from=<a@b.example> to=<c@d.example> proto=SMTP helo=<h>", "X-Dpmon-Account"); !ok || v != "beta" {
		t.Errorf("loggedHeader: got %q, %v", v, ok)
	}
}
