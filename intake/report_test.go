package intake

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// readSample reads a report of the corpus's samples (dsn/ or arf/).
func readSample(t *testing.T, dir, name string, o ReportOptions) Result {
	t.Helper()
	res, err := ReadReport(monitortest.OpenCorpus(t, "samples", dir, name), o, now)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	checkValid(t, name, res)
	return res
}

func TestReadReportDSNs(t *testing.T) {
	for _, tc := range []struct {
		file       string
		recipients []string
		verdicts   []monitor.BounceClass
		ignored    int
	}{
		{"sisimai-lhost-postfix-13.eml", []string{"kijitora@example.jp", "noraneko@example.jp"}, []monitor.BounceClass{monitor.BounceHard, monitor.BounceSoft}, 0},
		{"sisimai-lhost-sendmail-05.eml", []string{"kijitora@example.org"}, []monitor.BounceClass{monitor.BounceSoft}, 0},
		// Forwarded: the bounce is of the address the platform sent to
		// (Original-Recipient), not of the one it was forwarded to.
		{"sisimai-rhost-google-04.eml", []string{"contact@example.co.jp"}, []monitor.BounceClass{monitor.BounceBlock}, 0},
		{"sisimai-rhost-microsoft-01.eml", []string{"kijitora@example.com"}, []monitor.BounceClass{monitor.BounceBlock}, 0},
		// A delay tells nothing unless asked.
		{"sisimai-rfc3464-07.eml", nil, nil, 1},
	} {
		res := readSample(t, "dsn", tc.file, ReportOptions{Account: "acme"})
		if len(res.Events) != len(tc.recipients) || res.Ignored != tc.ignored || len(res.Unmapped) != 0 {
			t.Errorf("%s: got %+v", tc.file, res)
			continue
		}
		for i, e := range res.Events {
			e.Decide()
			if e.Type != monitor.EventBounce || e.Recipient != tc.recipients[i] || e.AccountID != "acme" || e.Bounce.Verdict != tc.verdicts[i] {
				t.Errorf("%s #%d: got %+v %+v", tc.file, i, e, *e.Bounce)
			}
		}
	}
	res := readSample(t, "dsn", "sisimai-rfc3464-07.eml", ReportOptions{Account: "acme", Delayed: true})
	if len(res.Events) != 1 || res.Events[0].Bounce.Class != monitor.BounceSoft {
		t.Fatalf("a delay, asked for: got %+v", res)
	}
	// Its 4.4.0 makes it soft, whatever the hint.
	e := res.Events[0]
	if e.Decide(); e.Bounce.Verdict != monitor.BounceSoft || e.Bounce.Rule != "status:4.4.0" {
		t.Errorf("a delay, asked for: classified %v by %s, want soft by its status", e.Bounce.Verdict, e.Bounce.Rule)
	}
	// Two copies of one report are one event; the postfix sample's two
	// recipients are two.
	a := readSample(t, "dsn", "sisimai-lhost-postfix-13.eml", ReportOptions{Account: "acme"})
	b := readSample(t, "dsn", "sisimai-lhost-postfix-13.eml", ReportOptions{Account: "acme"})
	if a.Events[0].ID != b.Events[0].ID || a.Events[0].ID == a.Events[1].ID || a.Events[0].MessageID != "<20150213024748.CEEDB20C16@2jo.example.jp>" {
		t.Errorf("ids %q %q %q, message id %q", a.Events[0].ID, b.Events[0].ID, a.Events[1].ID, a.Events[0].MessageID)
	}
	if want := time.Date(2015, 2, 13, 2, 47, 49, 0, time.UTC); !a.Events[0].OccurredAt.Equal(want) {
		t.Errorf("occurred at %v, want the report's date %v", a.Events[0].OccurredAt, want)
	}
}

func TestReadReportARFs(t *testing.T) {
	for _, tc := range []struct {
		file      string
		typ       monitor.EventType
		recipient string
	}{
		{"sisimai-arf-01.eml", monitor.EventComplaint, "redacted@example.net"},
		{"sisimai-arf-14.eml", monitor.EventComplaint, "kijitora@y.example.com"},
		{"sisimai-arf-25.eml", monitor.EventComplaint, "hashed@example.com"},
		{"sisimai-arf-12.eml", monitor.EventUnsubscribe, "user@example.com"},
	} {
		res := readSample(t, "arf", tc.file, ReportOptions{Account: "acme"})
		if len(res.Events) != 1 || res.Events[0].Type != tc.typ || res.Events[0].Recipient != tc.recipient {
			t.Errorf("%s: got %+v", tc.file, res)
		}
	}
	// An authentication failure: counted apart, and valid without a
	// recipient too.
	res := readSample(t, "arf", "sisimai-arf-19.eml", ReportOptions{Account: "acme"})
	if len(res.Events) != 1 || res.Events[0].Type != monitor.EventAuthFailure || res.Events[0].Recipient != "kijitora@example.org" {
		t.Errorf("auth-failure: got %+v, want one auth failure", res)
	}
	noRecipient := res.Events[0]
	noRecipient.Recipient = ""
	if err := noRecipient.Validate(noRecipient.OccurredAt, monitor.DefaultLimits()); err != nil {
		t.Errorf("auth failure without a recipient: %v", err)
	}
	arf := func(feedback string) string {
		return "Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: " + feedback + "\r\nUser-Agent: FBL/1.0\r\n" +
			"Original-Rcpt-To: a@example.com\r\nOriginal-Rcpt-To: <b@example.com>\r\n\r\n" +
			"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <m9@shop.example>\r\n\r\n--b--\r\n"
	}
	abuse, err1 := ReadReport(strings.NewReader(arf("abuse")), ReportOptions{Account: "acme"}, now)
	optOut, err2 := ReadReport(strings.NewReader(arf("opt-out")), ReportOptions{Account: "acme"}, now)
	if err1 != nil || err2 != nil || len(abuse.Events) != 2 || len(optOut.Events) != 2 || abuse.Events[1].Recipient != "b@example.com" ||
		abuse.Events[0].Complaint.Source != "FBL/1.0" || abuse.Events[0].ID == optOut.Events[0].ID || abuse.Events[0].ID == abuse.Events[1].ID {
		t.Errorf("two recipients, abuse then opt-out: got %+v, %v and %+v, %v", abuse, err1, optOut, err2)
	}
}

// dsn is a small DSN for one recipient, To the given address, returning a
// message with the given extra header.
func dsn(to, extra string) string {
	return "To: " + to + "\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n" +
		"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
		"Final-Recipient: rfc822; jane@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n" +
		"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <m1@shop.example>\r\n" + extra + "\r\n" +
		"--b--\r\n"
}

func TestReadReportAccount(t *testing.T) {
	for name, tc := range map[string]struct {
		msg  string
		opts ReportOptions
		want string
	}{
		"given":         {dsn("bounces@platform.example", "X-Dpmon-Account: globex\r\n"), ReportOptions{Account: "acme"}, "acme"},
		"header":        {dsn("bounces@platform.example", "X-Dpmon-Account: globex\r\n"), ReportOptions{}, "globex"},
		"own header":    {dsn("bounces@platform.example", "X-Tenant: initech\r\n"), ReportOptions{Header: "X-Tenant"}, "initech"},
		"verp":          {dsn("bounces+umbrella=jane.example.com@platform.example", ""), ReportOptions{}, "umbrella"},
		"forged header": {dsn("bounces+umbrella=jane.example.com@platform.example", "X-Dpmon-Account: a\u202eb\r\n"), ReportOptions{}, "umbrella"},
		"none":          {dsn("bounces@platform.example", ""), ReportOptions{}, ""},
	} {
		res, err := ReadReport(strings.NewReader(tc.msg), tc.opts, now)
		all := append(res.Events, res.Unmapped...)
		if err != nil || len(all) != 1 || all[0].AccountID != tc.want || (tc.want == "") != (len(res.Unmapped) == 1) {
			t.Errorf("%s: got %+v, %v; want account %q", name, res, err, tc.want)
		}
	}
}

// A delay then a failure of one recipient are two events; a copy of a
// report cut off before the returned message gives the same id as the
// whole one when neither carries the message's id.
func TestReadReportIDs(t *testing.T) {
	delayed := strings.Replace(dsn("bounces@platform.example", ""), "Action: failed", "Action: delayed", 1)
	a, _ := ReadReport(strings.NewReader(dsn("bounces@platform.example", "")), ReportOptions{Account: "acme", Delayed: true}, now)
	b, _ := ReadReport(strings.NewReader(delayed), ReportOptions{Account: "acme", Delayed: true}, now)
	if len(a.Events) != 1 || len(b.Events) != 1 || a.Events[0].ID == b.Events[0].ID {
		t.Errorf("failed then delayed: got %+v and %+v; want two ids", a, b)
	}
	noID := strings.Replace(dsn("bounces@platform.example", ""), "Message-ID: <m1@shop.example>\r\n", "Subject: hi\r\n", 1)
	cut := noID[:strings.Index(noID, "--b\r\nContent-Type: text/rfc822-headers")]
	whole, err1 := ReadReport(strings.NewReader(noID), ReportOptions{Account: "acme"}, now)
	partial, err2 := ReadReport(strings.NewReader(cut), ReportOptions{Account: "acme"}, now)
	if err1 != nil || err2 != nil || len(whole.Events) != 1 || len(partial.Events) != 1 || whole.Events[0].ID != partial.Events[0].ID || whole.Events[0].MessageID != "" {
		t.Errorf("a copy cut off: got %+v, %v and %+v, %v; want one id and no message id", whole, err1, partial, err2)
	}
}

// What reports write in many ways is read alike; what is too much is
// counted.
func TestReadReportVariants(t *testing.T) {
	variant := strings.NewReplacer("Final-Recipient: rfc822; jane@example.com", "Final-Recipient: utf-8; jane@example.com",
		"Status: 5.1.1", "Status: 5.1.1(unknown user)", "Diagnostic-Code: smtp; 550 5.1.1 no such user", "Diagnostic-Code: 550 5.1.1 no such user").
		Replace(dsn("bounces@platform.example", ""))
	res, err := ReadReport(strings.NewReader(variant), ReportOptions{Account: "acme"}, now)
	if err != nil || len(res.Events) != 1 || res.Events[0].Recipient != "jane@example.com" ||
		res.Events[0].Bounce.EnhancedStatus != "5.1.1" || res.Events[0].Bounce.SMTPCode != 550 {
		t.Errorf("variants: got %+v, %v", res, err)
	}
	block := "Final-Recipient: rfc822; jane@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n"
	many := strings.Replace(dsn("bounces@platform.example", ""), block, strings.Repeat(block, MaxReportRecipients+5), 1)
	res, err = ReadReport(strings.NewReader(many), ReportOptions{Account: "acme"}, now)
	if err != nil || len(res.Events) != MaxReportRecipients || res.Malformed != 5 {
		t.Errorf("too many recipients: got %d events, %d malformed, %v", len(res.Events), res.Malformed, err)
	}
	future := strings.Replace(dsn("bounces@platform.example", ""), "Date: Tue, 1 Dec 2026", "Date: Tue, 1 Dec 2099", 1)
	if res, _ := ReadReport(strings.NewReader(future), ReportOptions{Account: "acme"}, now); len(res.Events) != 1 || !res.Events[0].OccurredAt.Equal(now) {
		t.Errorf("a report from the future: got %+v, want it dated now", res)
	}
}

func TestReadReportRefusesWhatItCannotRead(t *testing.T) {
	for name, msg := range map[string]string{
		"empty":         "",
		"not a report":  "Content-Type: text/plain\r\n\r\nhello\r\n",
		"other report":  "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b--\r\n",
		"no status":     "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
		"no boundary":   "Content-Type: multipart/report; report-type=delivery-status\r\n\r\n",
		"broken header": "Content-Type multipart/report\r\n\r\n",
	} {
		if _, err := ReadReport(strings.NewReader(msg), ReportOptions{Account: "acme"}, now); !errors.Is(err, ErrPayload) {
			t.Errorf("%s: got %v, want ErrPayload", name, err)
		}
	}
	huge := bytes.Repeat([]byte("x"), MaxReportBytes+1)
	if _, err := ReadReport(bytes.NewReader(huge), ReportOptions{}, now); !errors.Is(err, ErrPayload) {
		t.Errorf("a huge message: got %v, want ErrPayload", err)
	}
}

func FuzzReadReport(f *testing.F) {
	f.Add([]byte(dsn("bounces+acme=x@platform.example", "X-Dpmon-Account: acme\r\n")))
	f.Add([]byte("Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nOriginal-Rcpt-To: a@example.com\r\n\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		res, err := ReadReport(bytes.NewReader(msg), ReportOptions{}, now)
		checkParsed(t, res, err)
		for _, e := range append(res.Events, res.Unmapped...) {
			if e.Complaint != nil && monitor.CheckText(e.Complaint.Source, monitor.MaxSourceLen) != "" {
				t.Fatalf("source %q", e.Complaint.Source)
			}
		}
	})
}

func TestTagAccount(t *testing.T) {
	for addr, want := range map[string]string{
		"fbl+acme@x.test":                 "acme",
		"bounces+acme=example.org@x.test": "acme",
		"bounces@x.test":                  "",
		"bounces+@x.test":                 "",
		"bounces+a\x00b@x.test":           "",
		"no-at-sign+acme":                 "",
	} {
		if got := TagAccount(addr); got != want {
			t.Errorf("TagAccount(%q) = %q, want %q", addr, got, want)
		}
	}
	if got := verpAccount("fbl+acme@x.test"); got != "" {
		t.Errorf("verpAccount of a tag without a recipient = %q, want none", got)
	}
}
