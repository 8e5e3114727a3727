package intake

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// The bounces below are written after the MTAs' own templates (Exim's
// deliver.c, qmail-send, Sendmail's savemail.c); the addresses, hosts and
// replies are made up.

// eximFailed is Exim's bounce of a message to two recipients, returning
// the message, whose header ends with the given lines.
func eximFailed(returned string) string {
	return `Return-path: <>
Envelope-to: bounces@platform.example
Delivery-date: Tue, 01 Dec 2026 10:00:06 +0000
From: Mail Delivery System <Mailer-Daemon@mail.platform.example>
To: bounces@platform.example
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1kAbCd-0004Xy-Zq@mail.platform.example>
Date: Tue, 01 Dec 2026 10:00:05 +0000
Auto-Submitted: auto-replied
X-Failed-Recipients: jane@example.com, bob@example.org

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  jane@example.com
    host mx.example.com [192.0.2.1]
    SMTP error from remote mail server after RCPT TO:<jane@example.com>:
    550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown
  bob@example.org
    host mx1.example.org [198.51.100.7]
    SMTP error from remote mail server after end of data:
    554-5.7.1 Service unavailable; Client host [203.0.113.5] blocked
    554 5.7.1 using zen.spamhaus.org

------ This is a copy of the message, including all the headers. ------
Return-path: <bounces+acme=jane.example.com@platform.example>
Received: from shop.example ([203.0.113.5])
	by mail.platform.example with esmtp (Exim 4.96)
	id 1kAbCc-0004Xw-Tt; Tue, 01 Dec 2026 09:59:58 +0000
From: Shop <news@shop.example>
To: jane@example.com, bob@example.org
Subject: December offers
Date: Tue, 01 Dec 2026 09:59:57 +0000
` + returned + `
Hello Jane, hello Bob,

our December offers are here.
`
}

// eximDelayed is Exim's warning that a message is still queued, which
// returns no copy of it.
const eximDelayed = `Return-path: <>
From: Mail Delivery System <Mailer-Daemon@mail.platform.example>
To: bounces+acme=jane.example.com@platform.example
Subject: Warning: message 1kAbCc-0004Xw-Tt delayed 24 hours
Message-Id: <E1kBxYz-0001Ab-Cd@mail.platform.example>
Date: Wed, 02 Dec 2026 10:00:05 +0000

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mail.platform.example.

The message identifier is:     1kAbCc-0004Xw-Tt
The subject of the message is: December offers
The date of the message is:    Tue, 01 Dec 2026 09:59:57 +0000

The address to which the message has not yet been delivered is:

  jane@example.com
    host mx.example.com [192.0.2.1]
    Delay reason: SMTP error from remote mail server after RCPT TO:<jane@example.com>:
    451 4.7.1 <jane@example.com>: Recipient address rejected: Greylisted, try again later

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered. Eventually the mail delivery software will give up,
and when that happens, the message will be returned to you.
`

// qmailFailed is qmail's bounce of a message to two recipients.
const qmailFailed = `Return-Path: <>
Delivered-To: bounces+acme=jane.example.com@platform.example
Received: (qmail 23716 invoked for bounce); 1 Dec 2026 10:00:07 -0000
Date: 1 Dec 2026 10:00:07 -0000
From: MAILER-DAEMON@mail.platform.example
To: bounces+acme=jane.example.com@platform.example
Subject: failure notice

Hi. This is the qmail-send program at mail.platform.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<jane@example.com>:
192.0.2.1 does not like recipient.
Remote host said: 550 5.1.1 <jane@example.com>... No such user
Giving up on 192.0.2.1.

<carol@example.net>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <bounces+acme=jane.example.com@platform.example>
Received: (qmail 23701 invoked by uid 89); 1 Dec 2026 09:59:58 -0000
Message-ID: <m2@shop.example>
From: Shop <news@shop.example>
To: jane@example.com, carol@example.net
Subject: December offers
Date: Tue, 01 Dec 2026 09:59:57 +0000

Hello Jane, hello Carol.
`

// qmailDelayed is the notice a patched qmail sends of a message still
// queued: one recipient is retried, the other has just been given up.
const qmailDelayed = `Return-Path: <>
Date: 2 Dec 2026 10:00:07 -0000
From: MAILER-DAEMON@mail.platform.example
To: bounces+acme=jane.example.com@platform.example
Subject: failure delay notice

Hi. This is the qmail-send program at mail.platform.example.
Your message has not been delivered yet to the following addresses.
I'll keep trying for a while; you do not need to send it again.

<jane@example.com>:
192.0.2.1 does not like recipient.
Remote host said: 452 4.2.2 <jane@example.com>: Mailbox full, try again later

<dave@example.com>:
Connected to 192.0.2.9 but connection died. (#4.4.2)
I'm not going to try again; this message has been in the queue too long.

--- Below this line is the top of the message.

Return-Path: <bounces+acme=jane.example.com@platform.example>
Message-ID: <m3@shop.example>
Subject: December offers
`

// sendmailFailed is an old Sendmail's text bounce: one recipient with its
// reason, one reached through an alias, whose reason is in the transcript.
const sendmailFailed = `Return-Path: <>
Date: Tue, 1 Dec 2026 10:00:09 GMT
From: Mail Delivery Subsystem <MAILER-DAEMON@mail.platform.example>
Message-Id: <202612011000.0B1A09Gx012345@mail.platform.example>
To: <bounces+acme=jane.example.com@platform.example>
Subject: Returned mail: see transcript for details
Auto-Submitted: auto-generated (failure)

The original message was received at Tue, 1 Dec 2026 09:59:58 GMT
from shop.example [203.0.113.5]

   ----- The following addresses had permanent fatal errors -----
<jane@example.com>
    (reason: 550 5.1.1 <jane@example.com>... User unknown)
<erin@example.org>
    (expanded from: <sales@example.org>)

   ----- Transcript of session follows -----
... while talking to mx.example.com.:
>>> RCPT To:<jane@example.com>
<<< 550 5.1.1 <jane@example.com>... User unknown
550 5.1.1 <jane@example.com>... User unknown
... while talking to mx.example.org.:
>>> RCPT To:<erin@example.org>
<<< 552 5.2.2 <erin@example.org>... Mailbox full
552 5.2.2 <erin@example.org>... Mailbox full

   ----- Original message follows -----
Return-Path: <bounces+acme=jane.example.com@platform.example>
Received: from shop.example [203.0.113.5] by mail.platform.example; Tue, 1 Dec 2026 09:59:58 GMT
Message-ID: <m4@shop.example>
X-Dpmon-Account: globex
Subject: December offers

Hello.
`

// sendmailDelayed is Sendmail's warning of a message still queued.
const sendmailDelayed = `Return-Path: <>
Date: Tue, 1 Dec 2026 14:00:09 GMT
From: Mail Delivery Subsystem <MAILER-DAEMON@mail.platform.example>
Message-Id: <202612011400.0B1E09Hx023456@mail.platform.example>
To: <bounces+acme=jane.example.com@platform.example>
Subject: Warning: could not send message for past 4 hours

    **********************************************
    **      THIS IS A WARNING MESSAGE ONLY      **
    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **
    **********************************************

The original message was received at Tue, 1 Dec 2026 09:59:58 GMT
from shop.example [203.0.113.5]

   ----- The following addresses had transient non-fatal errors -----
<jane@example.com>

   ----- Transcript of session follows -----
<jane@example.com>... Deferred: Connection timed out with mx.example.com.
Warning: message still undelivered after 4 hours
Will keep trying until message is 5 days old

   ----- Message header follows -----
Return-Path: <bounces+acme=jane.example.com@platform.example>
Message-ID: <m5@shop.example>
Subject: December offers
`

// mixedFailed is a bounce in a multipart/mixed message: qmail's text,
// quoted-printable, then the returned message attached apart.
const mixedFailed = `Return-Path: <>
Date: 1 Dec 2026 10:00:07 -0000
From: MAILER-DAEMON@mail.platform.example
To: bounces@platform.example
Subject: failure notice
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="bounce-7f3a"

--bounce-7f3a
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: quoted-printable

Hi. This is the qmail-send program at mail.platform.example.
I'm afraid I wasn't able to deliver your message to the following addresse=
s.
This is a permanent error; I've given up. Sorry it didn't work out.

<jane@example.com>:
Remote host said: 550 5.1.1 <jane@example.com>... No such user

--bounce-7f3a
Content-Type: message/rfc822

Return-Path: <bounces+umbrella=jane.example.com@platform.example>
Message-ID: <m6@shop.example>
Subject: December offers

Hello.
--bounce-7f3a--
`

// plainBounce reads msg, failing the test unless it is read without error
// into events dpmon takes.
func plainBounce(t *testing.T, name, msg string, o ReportOptions) Result {
	t.Helper()
	res, err := ReadReport(strings.NewReader(msg), o, now)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	checkValid(t, name, res)
	return res
}

func TestReadPlainBounces(t *testing.T) {
	type want struct {
		recipient string
		verdict   monitor.BounceClass
		smtpCode  int
		status    string
		delay     bool // hinted soft, as a DSN's delay is
	}
	for _, tc := range []struct {
		name    string
		msg     string
		delayed bool // ReportOptions.Delayed
		want    []want
		ignored int
	}{
		{"exim", eximFailed("Message-ID: <m1@shop.example>\n"), false, []want{
			{"jane@example.com", monitor.BounceHard, 550, "5.1.1", false},
			{"bob@example.org", monitor.BounceBlock, 554, "5.7.1", false},
		}, 0},
		{"exim with CRLF", strings.ReplaceAll(eximFailed(""), "\n", "\r\n"), false, []want{
			{"jane@example.com", monitor.BounceHard, 550, "5.1.1", false},
			{"bob@example.org", monitor.BounceBlock, 554, "5.7.1", false},
		}, 0},
		// A delay tells nothing unless asked.
		{"exim delay", eximDelayed, false, nil, 1},
		{"exim delay, asked for", eximDelayed, true, []want{{"jane@example.com", monitor.BounceSoft, 451, "4.7.1", true}}, 0},
		// The remote's reply, else qmail's words with their "(#5.1.1)".
		{"qmail", qmailFailed, false, []want{
			{"jane@example.com", monitor.BounceHard, 550, "5.1.1", false},
			{"carol@example.net", monitor.BounceHard, 0, "5.1.1", false},
		}, 0},
		// Given up after the queue lifetime, dave failed; jane is retried.
		{"qmail delay", qmailDelayed, false, []want{{"dave@example.com", monitor.BounceSoft, 0, "4.4.2", false}}, 1},
		{"qmail delay, asked for", qmailDelayed, true, []want{
			{"jane@example.com", monitor.BounceSoft, 452, "4.2.2", true},
			{"dave@example.com", monitor.BounceSoft, 0, "4.4.2", false},
		}, 0},
		// The alias the platform sent to, with the reply the transcript
		// gives of the address it expanded to.
		{"sendmail", sendmailFailed, false, []want{
			{"jane@example.com", monitor.BounceHard, 550, "5.1.1", false},
			{"sales@example.org", monitor.BounceSoft, 552, "5.2.2", false},
		}, 0},
		{"sendmail delay", sendmailDelayed, false, nil, 1},
		{"sendmail delay, asked for", sendmailDelayed, true, []want{{"jane@example.com", monitor.BounceSoft, 0, "", true}}, 0},
		{"multipart/mixed", mixedFailed, false, []want{{"jane@example.com", monitor.BounceHard, 550, "5.1.1", false}}, 0},
	} {
		res := plainBounce(t, tc.name, tc.msg, ReportOptions{Account: "acme", Delayed: tc.delayed})
		if len(res.Events) != len(tc.want) || res.Ignored != tc.ignored || res.Malformed != 0 || len(res.Unmapped) != 0 {
			t.Errorf("%s: got %d events, %d ignored, %d malformed, %d unmapped; want %d events, %d ignored",
				tc.name, len(res.Events), res.Ignored, res.Malformed, len(res.Unmapped), len(tc.want), tc.ignored)
			continue
		}
		for i, e := range res.Events {
			w := tc.want[i]
			e.Decide()
			if e.Type != monitor.EventBounce || e.Recipient != w.recipient || e.AccountID != "acme" ||
				e.Bounce.SMTPCode != w.smtpCode || e.Bounce.EnhancedStatus != w.status || e.Bounce.Verdict != w.verdict {
				t.Errorf("%s #%d: got %s %d %s %v (%s), want %s %d %s %v",
					tc.name, i, e.Recipient, e.Bounce.SMTPCode, e.Bounce.EnhancedStatus, e.Bounce.Verdict, e.Bounce.Rule,
					w.recipient, w.smtpCode, w.status, w.verdict)
			}
			hint := monitor.BounceUnspecified
			if w.delay {
				hint = monitor.BounceSoft
			}
			if e.Bounce.Class != hint {
				t.Errorf("%s #%d: got hint %v, want %v", tc.name, i, e.Bounce.Class, hint)
			}
		}
	}
}

// The remote's reply is what the classifier reads: the text from its code
// on, whole over its lines, without what the MTA says around it.
func TestReadPlainBounceReplies(t *testing.T) {
	res := plainBounce(t, "exim", eximFailed(""), ReportOptions{Account: "acme"})
	for i, want := range []string{
		"550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown",
		"554-5.7.1 Service unavailable; Client host [203.0.113.5] blocked 554 5.7.1 using zen.spamhaus.org",
	} {
		if got := res.Events[i].Bounce.Diagnostic; got != want {
			t.Errorf("exim #%d: got diagnostic %q, want %q", i, got, want)
		}
	}
	res = plainBounce(t, "qmail", qmailFailed, ReportOptions{Account: "acme"})
	if got, want := res.Events[0].Bounce.Diagnostic, "550 5.1.1 <jane@example.com>... No such user"; got != want {
		t.Errorf("qmail: got diagnostic %q, want %q", got, want)
	}
	if got, want := res.Events[1].Bounce.Diagnostic, "Sorry, no mailbox here by that name. (#5.1.1)"; got != want {
		t.Errorf("qmail: got diagnostic %q, want %q", got, want)
	}
	res = plainBounce(t, "sendmail delay", sendmailDelayed, ReportOptions{Account: "acme", Delayed: true})
	if got, want := res.Events[0].Bounce.Diagnostic, "Deferred: Connection timed out with mx.example.com."; got != want {
		t.Errorf("sendmail delay: got diagnostic %q, want %q", got, want)
	}
	// Older Exim writes the reply after the host.
	old := strings.Replace(eximFailed(""), "    host mx.example.com [192.0.2.1]\n    SMTP error from remote mail server after RCPT TO:<jane@example.com>:\n    550",
		"    SMTP error from remote mail server after RCPT TO:<jane@example.com>:\n    host mx.example.com [192.0.2.1]: 550", 1)
	res = plainBounce(t, "older exim", old, ReportOptions{Account: "acme"})
	if got, want := res.Events[0].Bounce.Diagnostic, "550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown"; got != want {
		t.Errorf("older exim: got diagnostic %q, want %q", got, want)
	}
	// Exim's own words when no server replied.
	unrouted := strings.Replace(eximFailed(""), "    host mx1.example.org [198.51.100.7]\n    SMTP error from remote mail server after end of data:\n    554-5.7.1 Service unavailable; Client host [203.0.113.5] blocked\n    554 5.7.1 using zen.spamhaus.org",
		"    Unrouteable address", 1)
	res = plainBounce(t, "unrouteable", unrouted, ReportOptions{Account: "acme"})
	if b := res.Events[1].Bounce; b.Diagnostic != "Unrouteable address" || b.SMTPCode != 0 {
		t.Errorf("unrouteable: got %+v, want Exim's words and no code", *b)
	}
}

// The classifier takes an MTA's "550 5.1.1 User unknown" for a hard
// bounce, as it does a DSN's.
func TestReadPlainBounceClassified(t *testing.T) {
	msg := strings.Replace(eximFailed(""), "550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown", "550 5.1.1 User unknown", 1)
	e := plainBounce(t, "exim", msg, ReportOptions{Account: "acme"}).Events[0]
	if e.Decide(); e.Bounce.Verdict != monitor.BounceHard {
		t.Errorf("550 5.1.1 User unknown: got %v by %s, want hard", e.Bounce.Verdict, e.Bounce.Rule)
	}
}

// The returned message's id makes the event id, as in a DSN: a bounce
// read twice, or the same failure reported by a DSN, counts once.
func TestReadPlainBounceIDs(t *testing.T) {
	o := ReportOptions{Account: "acme"}
	a := plainBounce(t, "exim", eximFailed("Message-ID: <m1@shop.example>\n"), o)
	b := plainBounce(t, "exim", eximFailed("Message-ID: <m1@shop.example>\n"), o)
	if a.Events[0].ID != b.Events[0].ID || a.Events[1].ID != b.Events[1].ID || a.Events[0].ID == a.Events[1].ID {
		t.Errorf("read twice: got ids %q %q and %q %q; want the same two", a.Events[0].ID, a.Events[1].ID, b.Events[0].ID, b.Events[1].ID)
	}
	if got := a.Events[0].MessageID; got != "<m1@shop.example>" {
		t.Errorf("message id: got %q, want <m1@shop.example>", got)
	}
	d := plainBounce(t, "dsn", dsn("bounces@platform.example", ""), o)
	if a.Events[0].ID != d.Events[0].ID {
		t.Errorf("the same failure as a DSN: got id %q, want the DSN's %q", a.Events[0].ID, d.Events[0].ID)
	}
	other := plainBounce(t, "exim", eximFailed("Message-ID: <m7@shop.example>\n"), o)
	if other.Events[0].ID == a.Events[0].ID {
		t.Errorf("another message: got the same id %q", a.Events[0].ID)
	}
	// Without the returned message's id, the bounce's own id and date
	// name it; a copy gives the same ids.
	noID, again := plainBounce(t, "exim", eximFailed(""), o), plainBounce(t, "exim", eximFailed(""), o)
	if noID.Events[0].MessageID != "" || noID.Events[0].ID != again.Events[0].ID || noID.Events[0].ID == a.Events[0].ID {
		t.Errorf("no message id: got %+v and %+v", noID.Events[0], again.Events[0])
	}
	w1 := plainBounce(t, "exim delay", eximDelayed, ReportOptions{Account: "acme", Delayed: true})
	w2 := plainBounce(t, "exim delay", strings.Replace(eximDelayed, "<E1kBxYz-0001Ab-Cd@", "<E1kCaaa-0002Ab-Cd@", 1), ReportOptions{Account: "acme", Delayed: true})
	if w1.Events[0].ID == w2.Events[0].ID {
		t.Errorf("two warnings without the message: got one id %q, want two", w1.Events[0].ID)
	}
	// A failure after a delay is an event of its own.
	failed := plainBounce(t, "qmail delay", qmailDelayed, ReportOptions{Account: "acme"})
	late := strings.Replace(qmailDelayed, "Remote host said: 452 4.2.2 <jane@example.com>: Mailbox full, try again later",
		"Remote host said: 452 4.2.2 <jane@example.com>: Mailbox full, try again later\nI'm not going to try again; this message has been in the queue too long.", 1)
	delayed := plainBounce(t, "qmail delay", qmailDelayed, ReportOptions{Account: "acme", Delayed: true})
	gaveUp := plainBounce(t, "qmail given up", late, ReportOptions{Account: "acme"})
	if len(gaveUp.Events) != 2 || gaveUp.Events[0].ID == delayed.Events[0].ID || gaveUp.Events[1].ID != failed.Events[0].ID {
		t.Errorf("a delay then a failure: got %+v and %+v", delayed.Events, gaveUp.Events)
	}
}

func TestReadPlainBounceDate(t *testing.T) {
	res := plainBounce(t, "exim", eximFailed(""), ReportOptions{Account: "acme"})
	if want := time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC); !res.Events[0].OccurredAt.Equal(want) {
		t.Errorf("occurred at %v, want the bounce's date %v", res.Events[0].OccurredAt, want)
	}
	future := strings.Replace(eximFailed(""), "Date: Tue, 01 Dec 2026 10:00:05", "Date: Tue, 01 Dec 2099 10:00:05", 1)
	if res := plainBounce(t, "future", future, ReportOptions{Account: "acme"}); !res.Events[0].OccurredAt.Equal(now) {
		t.Errorf("a bounce from the future: occurred at %v, want now %v", res.Events[0].OccurredAt, now)
	}
}

func TestReadPlainBounceAccount(t *testing.T) {
	for name, tc := range map[string]struct {
		msg  string
		opts ReportOptions
		want string
	}{
		"given":      {eximFailed("X-Dpmon-Account: globex\n"), ReportOptions{Account: "acme"}, "acme"},
		"header":     {eximFailed("X-Dpmon-Account: globex\n"), ReportOptions{}, "globex"},
		"own header": {eximFailed("X-Tenant: initech\n"), ReportOptions{Header: "X-Tenant"}, "initech"},
		// The returned message's Return-Path, when the bounce is not
		// addressed to it.
		"verp of the returned message": {eximFailed(""), ReportOptions{}, "acme"},
		"verp of the bounce":           {strings.Replace(qmailFailed, "bounces+acme=", "bounces+initech=", 2), ReportOptions{}, "initech"},
		"verp attached":                {mixedFailed, ReportOptions{}, "umbrella"},
		"header of sendmail's copy":    {sendmailFailed, ReportOptions{}, "globex"},
		"forged header":                {eximFailed("X-Dpmon-Account: a\u202eb\n"), ReportOptions{}, "acme"},
		"none":                         {strings.Replace(eximFailed(""), "bounces+acme=jane.example.com@", "bounces@", 1), ReportOptions{}, ""},
		"none, no copy":                {strings.Replace(eximDelayed, "bounces+acme=jane.example.com@", "bounces@", 1), ReportOptions{Delayed: true}, ""},
	} {
		res := plainBounce(t, name, tc.msg, tc.opts)
		all := append(res.Events, res.Unmapped...)
		if len(all) == 0 || (tc.want == "") != (len(res.Unmapped) == len(all)) {
			t.Errorf("%s: got %d events, %d unmapped; want account %q", name, len(res.Events), len(res.Unmapped), tc.want)
			continue
		}
		for _, e := range all {
			if e.AccountID != tc.want {
				t.Errorf("%s: got account %q, want %q", name, e.AccountID, tc.want)
			}
		}
	}
}

// Recipients beyond MaxReportRecipients, and lines that hold no address,
// are counted as malformed.
func TestReadPlainBounceBounds(t *testing.T) {
	block := "  jane@example.com\n    550 5.1.1 User unknown\n"
	many := strings.Replace(eximFailed(""), "  jane@example.com\n", strings.Repeat(block, MaxReportRecipients+5), 1)
	res := plainBounce(t, "many", many, ReportOptions{Account: "acme"})
	if len(res.Events) != MaxReportRecipients || res.Malformed != 6 { // the five, and bob
		t.Errorf("too many recipients: got %d events, %d malformed; want %d and 6", len(res.Events), res.Malformed, MaxReportRecipients)
	}
	piped := strings.Replace(eximFailed(""), "  bob@example.org\n", "  pipe to |/usr/local/bin/autoreply\n", 1)
	res = plainBounce(t, "pipe", piped, ReportOptions{Account: "acme"})
	if len(res.Events) != 1 || res.Malformed != 1 {
		t.Errorf("a pipe among the addresses: got %d events, %d malformed; want 1 and 1", len(res.Events), res.Malformed)
	}
	long := strings.Replace(eximFailed(""), "User unknown", "User unknown"+strings.Repeat(" and more", 4*monitor.MaxDiagnosticLen), 1)
	if res := plainBounce(t, "long", long, ReportOptions{Account: "acme"}); len(res.Events[0].Bounce.Diagnostic) > monitor.MaxDiagnosticLen {
		t.Errorf("a long reply: got %d bytes, want at most %d", len(res.Events[0].Bounce.Diagnostic), monitor.MaxDiagnosticLen)
	}
}

// Only a message both from the mail system and in an MTA's words is a
// bounce: anything else in the bounce mailbox is refused as before.
func TestReadPlainBounceRefuses(t *testing.T) {
	person := strings.NewReplacer("Return-path: <>\n", "Return-path: <jane@example.com>\n",
		"From: Mail Delivery System <Mailer-Daemon@mail.platform.example>", "From: Jane <jane@example.com>",
		"Subject: Mail delivery failed: returning message to sender", "Subject: Fwd: Mail delivery failed").Replace(eximFailed(""))
	for name, msg := range map[string]string{
		"a person forwarding a bounce": person,
		"the mail system, other words": "From: MAILER-DAEMON@mail.platform.example\nSubject: failure notice\n\nYour mailbox is almost full.\n",
		"the words, no list":           qmailFailed[:strings.Index(qmailFailed, "<jane@example.com>:")],
		"a bounce in HTML":             strings.Replace(eximFailed(""), "X-Failed-Recipients", "Content-Type: text/html\nX-Failed-Recipients", 1),
		"an auto-reply":                "From: jane@example.com\nSubject: Out of office\n\nI am away until Monday.\n",
		"no body":                      "From: MAILER-DAEMON@mail.platform.example\nSubject: Returned mail: see transcript for details\n",
		"bad encoding":                 strings.Replace(sendmailFailed, "Auto-Submitted", "Content-Transfer-Encoding: base64\nAuto-Submitted", 1),
	} {
		_, err := ReadReport(strings.NewReader(msg), ReportOptions{Account: "acme"}, now)
		if err == nil || !errors.Is(err, ErrPayload) || !strings.Contains(err.Error(), "not a multipart/report message") {
			t.Errorf("%s: got %v, want ErrPayload, not a multipart/report message", name, err)
		}
	}
}

// FuzzPlainBounce: no message makes the reader fail other than with
// ErrPayload, panic, or make an event dpmon would refuse.
func FuzzPlainBounce(f *testing.F) {
	for _, msg := range []string{eximFailed("Message-ID: <m1@shop.example>\nX-Dpmon-Account: acme\n"), eximDelayed, qmailFailed, qmailDelayed,
		sendmailFailed, sendmailDelayed, mixedFailed} {
		f.Add([]byte(msg), false)
	}
	f.Add([]byte(strings.ReplaceAll(qmailFailed, "\n", "\r\n")), true)
	f.Fuzz(func(t *testing.T, msg []byte, delayed bool) {
		res, err := ReadReport(bytes.NewReader(msg), ReportOptions{Delayed: delayed}, now)
		checkParsed(t, res, err)
		for _, e := range append(res.Events, res.Unmapped...) {
			if monitor.CheckAddress(e.Recipient) != "" || e.OccurredAt.After(now) || len(e.MessageID) > monitor.MaxMessageIDLen {
				t.Fatalf("event %+v", e)
			}
		}
	})
}
