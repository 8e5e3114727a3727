package intake

import (
	"errors"
	"strings"
	"testing"

	"github.com/dpmon/dpmon/monitor"
)

func TestReply(t *testing.T) {
	for _, tc := range []struct {
		code   int
		status string
		text   string
		want   monitor.Bounce
	}{
		{0, "", "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
			monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.1.1 The email account that you tried to reach does not exist."}},
		{0, "", "SMTP; 550-5.7.1 [192.0.2.1] blocked",
			monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.7.1", Diagnostic: "550-5.7.1 [192.0.2.1] blocked"}},
		// The code reported apart, a reply over two lines.
		{550, "", "5.1.1 The account does not exist. Please try\n5.1.1 again",
			monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "5.1.1 The account does not exist. Please try 5.1.1 again"}},
		// A provider's own code, outside SMTP's: the text alone speaks.
		{498, "", "No MX for nomx.example.com", monitor.Bounce{Diagnostic: "No MX for nomx.example.com"}},
		{605, "", "550 5.1.1 no such user", monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.1.1 no such user"}},
		{0, "", "250 2.6.0 Message received", monitor.Bounce{SMTPCode: 250, EnhancedStatus: "2.6.0", Diagnostic: "250 2.6.0 Message received"}},
		{0, "", "599 9.9.9 odd", monitor.Bounce{Diagnostic: "599 9.9.9 odd"}},
		{0, "", "user unknown; see https://example.com", monitor.Bounce{Diagnostic: "user unknown; see https://example.com"}},
		{0, "", "  bad\xffbyte\t\r\nand\u2028lines  ", monitor.Bounce{Diagnostic: "bad\uFFFDbyte and lines"}},
		{0, "", "", monitor.Bounce{}},
		// The status reported apart stands in for one the text lacks, not
		// for one it has.
		{0, "5.2.2 (mailbox full)", "552 over quota", monitor.Bounce{SMTPCode: 552, EnhancedStatus: "5.2.2", Diagnostic: "552 over quota"}},
		{0, "5.1.1(bad mailbox)", "", monitor.Bounce{EnhancedStatus: "5.1.1"}},
		{0, "5.2.2", "550 5.1.1 no such user", monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.1.1 no such user"}},
		{0, "9.9.9", "450 later", monitor.Bounce{SMTPCode: 450, Diagnostic: "450 later"}},
	} {
		if got := reply(tc.code, tc.status, tc.text); got != tc.want {
			t.Errorf("reply(%d, %q) = %+v, want %+v", tc.code, tc.text, got, tc.want)
		}
	}
	long := reply(0, "", strings.Repeat("é", monitor.MaxDiagnosticLen))
	if err := long.Validate(""); err != nil || len(long.Diagnostic) < monitor.MaxDiagnosticLen-1 {
		t.Errorf("a long reply: %d bytes, %v; want it cut to fit", len(long.Diagnostic), err)
	}
}

// FuzzReply: whatever a provider relays, the bounce made of it is one
// dpmon accepts.
func FuzzReply(f *testing.F) {
	f.Add(0, "", "smtp;550 5.1.1 user unknown")
	f.Add(550, "5.1.1 (comment)", "5.1.1 over\ntwo lines")
	f.Add(498, "", "No MX")
	f.Fuzz(func(t *testing.T, code int, status, text string) {
		if b := reply(code, status, text); b.Validate("") != nil {
			t.Fatalf("reply(%d, %q) = %+v: %v", code, text, b, b.Validate(""))
		}
	})
}

// FuzzPostmark: no post makes the parser fail other than with ErrPayload,
// and every event it makes has a valid id and a bounce dpmon accepts.
func FuzzPostmark(f *testing.F) {
	f.Add([]byte(`{"RecordType":"Bounce","ID":1,"Type":"HardBounce","Email":"a@example.com","Details":"smtp;550 5.1.1 x","BouncedAt":"2026-12-01T10:00:00Z"}`))
	f.Add([]byte(`{"RecordType":"Delivery","Recipient":"a@example.com","Metadata":{"k":"v"},"DeliveredAt":"2026-12-01T10:00:00.1234567-04:00"}`))
	f.Add([]byte(`{"RecordType":"SubscriptionChange","SuppressSending":true,"SuppressionReason":"ManualSuppression","Recipient":"a@example.com"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Postmark(body, Mapping{From: "tag", Default: "acme"}, now)
		checkParsed(t, res, err)
	})
}

// checkParsed fails a fuzz run on an error other than ErrPayload, or on an
// event with an invalid id or a bounce dpmon would refuse.
func checkParsed(t *testing.T, res Result, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, ErrPayload) {
			t.Fatalf("error %v, want ErrPayload", err)
		}
		return
	}
	for _, e := range append(res.Events, res.Unmapped...) {
		if reason := monitor.CheckID(e.ID); reason != "" {
			t.Fatalf("id %q %s", e.ID, reason)
		}
		if e.Bounce != nil && e.Bounce.Validate("") != nil {
			t.Fatalf("bounce %+v: %v", *e.Bounce, e.Bounce.Validate(""))
		}
	}
}
