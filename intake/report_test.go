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
		{"sisimai-rhost-google-04.eml", []string{"kijitora@google.example.com"}, []monitor.BounceClass{monitor.BounceBlock}, 0},
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
		t.Errorf("a delay, asked for: got %+v", res)
	}
	// Two copies of one report are one event; the postfix sample's two
	// recipients are two.
	a := readSample(t, "dsn", "sisimai-lhost-postfix-13.eml", ReportOptions{Account: "acme"})
	b := readSample(t, "dsn", "sisimai-lhost-postfix-13.eml", ReportOptions{Account: "acme"})
	if a.Events[0].ID != b.Events[0].ID || a.Events[0].ID == a.Events[1].ID || a.Events[0].MessageID != "<20150213024748.CEEDB20C16@2jo.example.jp>" {
		t.Errorf("ids %q %q %q, message id %q", a.Events[0].ID, b.Events[0].ID, a.Events[1].ID, a.Events[0].MessageID)
	}
	if want := time.Date(2015, 2, 13, 2, 47, 48, 0, time.UTC); !a.Events[0].OccurredAt.Equal(want) {
		t.Errorf("occurred at %v, want the arrival date %v", a.Events[0].OccurredAt, want)
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
	if res := readSample(t, "arf", "sisimai-arf-19.eml", ReportOptions{Account: "acme"}); res.Ignored != 1 || len(res.Events) != 0 {
		t.Errorf("auth-failure: got %+v, want it ignored", res)
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
