package intake

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// Each export is detected from its header (or first bytes) and read into
// rows; the header rows are the providers' documented columns.
func TestSuppressionListFormats(t *testing.T) {
	for _, tt := range []struct {
		name, format, text string
		want               []SuppressionRow
	}{
		{"dpmon csv", FormatDpmonCSV, "recipient,reason,since,note\na@example.com,hard_bounce,2026-11-01T10:00:00Z,\"from our CRM, 2025\"\n",
			[]SuppressionRow{{Line: 2, Recipient: "a@example.com", Reason: monitor.SuppressedHardBounce, Since: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), Note: "from our CRM, 2025"}}},
		{"dpmon json lines", FormatDpmonJSON, `{"recipient":"a@example.com","reason":"spam trap","since":"2026-11-01T10:00:00Z"}` + "\n" + `{"recipient":"b@example.com","reason":"unsubscribed"}`,
			[]SuppressionRow{{Line: 1, Recipient: "a@example.com", Reason: monitor.SuppressedSpamTrap, Since: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)},
				{Line: 2, Recipient: "b@example.com", Reason: monitor.SuppressedUnsubscribed}}},
		{"SES CLI json", FormatSESJSON, `{"SuppressedDestinationSummaries":[{"EmailAddress":"a@example.com","Reason":"BOUNCE","LastUpdateTime":"2026-11-01T10:00:00+00:00"},{"EmailAddress":"b@example.com","Reason":"COMPLAINT","LastUpdateTime":1793527200.0}]}`,
			[]SuppressionRow{{Line: 1, Recipient: "a@example.com", Reason: monitor.SuppressedHardBounce, Since: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)},
				{Line: 2, Recipient: "b@example.com", Reason: monitor.SuppressedComplaint, Since: time.Unix(1793527200, 0).UTC()}}},
		{"SES csv", FormatSESCSV, "EmailAddress,Reason,LastUpdateTime\na@example.com,COMPLAINT,2026-11-01T10:00:00Z\n",
			[]SuppressionRow{{Line: 2, Recipient: "a@example.com", Reason: monitor.SuppressedComplaint, Since: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}}},
		{"SendGrid spam reports with a column more", FormatSendGridSpamReports, "created,email,ip,extra\n1793527200,a@example.com,192.0.2.1,x\n",
			[]SuppressionRow{{Line: 2, Recipient: "a@example.com", Reason: monitor.SuppressedComplaint, Since: time.Unix(1793527200, 0).UTC()}}},
		{"Mailgun unsubscribes, not complaints", FormatMailgunUnsubscribes, "address,tags,created_at\na@example.com,*,1793527200\n",
			[]SuppressionRow{{Line: 2, Recipient: "a@example.com", Reason: monitor.SuppressedUnsubscribed, Since: time.Unix(1793527200, 0).UTC()}}},
		{"dpmon json lines with the API's names", FormatDpmonJSON, `{"recipient":"a@example.com","reason":"SUPPRESSION_REASON_HARD_BOUNCE"}`,
			[]SuppressionRow{{Line: 1, Recipient: "a@example.com", Reason: monitor.SuppressedHardBounce}}},
		{"SendGrid bounces", FormatSendGridBounces, "created,email,reason,status\n1793527200,a@example.com,550 5.1.1 user unknown,5.1.1\n",
			[]SuppressionRow{{Line: 2, Recipient: "a@example.com", Reason: monitor.SuppressedHardBounce, Since: time.Unix(1793527200, 0).UTC(), Note: "5.1.1 550 5.1.1 user unknown"}}},
		{"SendGrid spam reports", FormatSendGridSpamReports, "created,email,ip\n2026-11-01 10:00:00,a@example.com,192.0.2.1\n",
			[]SuppressionRow{{Line: 2, Recipient: "a@example.com", Reason: monitor.SuppressedComplaint, Since: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}}},
		{"SendGrid unsubscribes", FormatSendGridUnsubscribe, "created,email\n1793527200,a@example.com\n",
			[]SuppressionRow{{Line: 2, Recipient: "a@example.com", Reason: monitor.SuppressedUnsubscribed, Since: time.Unix(1793527200, 0).UTC()}}},
		{"Postmark", FormatPostmark, "EmailAddress,SuppressionReason,Origin,CreatedAt\na@example.com,SpamComplaint,Recipient,2026-11-01T10:00:00-05:00\n",
			[]SuppressionRow{{Line: 2, Recipient: "a@example.com", Reason: monitor.SuppressedComplaint, Since: time.Date(2026, 11, 1, 15, 0, 0, 0, time.UTC), Note: "Recipient"}}},
		{"Mailgun bounces", FormatMailgunBounces, "address,code,error,created_at\na@example.com,550,No such mailbox,\"Sun, 01 Nov 2026 10:00:00 UTC\"\n",
			[]SuppressionRow{{Line: 2, Recipient: "a@example.com", Reason: monitor.SuppressedHardBounce, Since: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), Note: "550 No such mailbox"}}},
		{"Mailgun complaints", FormatMailgunComplaints, "address,created_at\na@example.com,\"Sun, 01 Nov 2026 10:00:00 UTC\"\n",
			[]SuppressionRow{{Line: 2, Recipient: "a@example.com", Reason: monitor.SuppressedComplaint, Since: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}}},
		{"Mailgun unsubscribes", FormatMailgunUnsubscribes, "address,tags,created_at\na@example.com,*,\"Sun, 01 Nov 2026 10:00:00 UTC\"\n",
			[]SuppressionRow{{Line: 2, Recipient: "a@example.com", Reason: monitor.SuppressedUnsubscribed, Since: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			given := ""
			if tt.format == FormatSendGridBounces {
				given = tt.format // its columns are the blocks' too
			}
			format, rows, err := SuppressionList(strings.NewReader(tt.text), given)
			if err != nil || format != tt.format {
				t.Fatalf("detected %q, %v; want %s", format, err, tt.format)
			}
			var got []SuppressionRow
			for row, err := range rows {
				if err != nil {
					t.Fatalf("row %d: %v", row.Line, err)
				}
				got = append(got, row)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("rows %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if g, w := got[i], tt.want[i]; g.Line != w.Line || g.Recipient != w.Recipient || g.Reason != w.Reason || !g.Since.Equal(w.Since) || g.Note != w.Note {
					t.Errorf("row %d: %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestSuppressionListRefusals(t *testing.T) {
	if _, _, err := SuppressionList(strings.NewReader("foo,bar\n1,2\n"), ""); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("an unknown header: %v, want ErrUnknownFormat", err)
	}
	if _, _, err := SuppressionList(strings.NewReader("created,email,reason,status\n"), ""); !errors.Is(err, ErrUnknownFormat) || !strings.Contains(err.Error(), "--format") {
		t.Errorf("SendGrid's bounces or blocks without --format: %v, want a request for --format", err)
	}
	// SendGrid's blocks look like its bounces: chosen by name, kept manual.
	format, rows, err := SuppressionList(strings.NewReader("created,email,reason,status\n1793527200,a@example.com,blocked by spamhaus,4.7.1\n"), FormatSendGridBlocks)
	if err != nil || format != FormatSendGridBlocks {
		t.Fatalf("blocks: %q, %v", format, err)
	}
	for row, err := range rows {
		if err != nil || row.Reason != monitor.SuppressedManual {
			t.Errorf("a block: %+v, %v; want a manual suppression", row, err)
		}
	}
	// A bad row is told with its line, and the next ones are read.
	_, rows, _ = SuppressionList(strings.NewReader("recipient,reason,since,note\na@example.com,bounced,,\nb@example.com,complaint,yesterday,\nc@example.com,complaint,,\n"), "")
	var lines []int
	var good int
	for row, err := range rows {
		if err != nil {
			lines = append(lines, row.Line)
		} else {
			good++
		}
	}
	if len(lines) != 2 || lines[0] != 2 || lines[1] != 3 || good != 1 {
		t.Errorf("bad rows at %v with %d good, want lines 2 and 3 and 1 good", lines, good)
	}
	if _, _, err := SuppressionList(strings.NewReader("email,created\n"), FormatPostmark); err == nil {
		t.Error("a SendGrid header read as Postmark: no error")
	}
}

func FuzzSuppressionList(f *testing.F) {
	for _, s := range []string{"recipient,reason,since,note\na@example.com,hard_bounce,,\n", `{"SuppressedDestinationSummaries":[{"EmailAddress":"a@b.c","Reason":"BOUNCE"}]}`,
		`{"recipient":"a@b.c","reason":"complaint"}`, "address,code,error,created_at\n\"a@b.c\",550,x,\"Sun, 01 Nov 2026 10:00:00 UTC\"\n", "email,created\n\"unterminated"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, rows, err := SuppressionList(strings.NewReader(string(data)), "")
		if err != nil {
			return
		}
		for row, err := range rows {
			if err == nil && row.Reason == 0 {
				t.Fatalf("a row without a reason and without an error: %+v", row)
			}
		}
	})
}
