package intake

import (
	"errors"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// sesSample reads a corpus sample that is an SNS delivery, or else an SES
// notification as it is.
func sesSample(t *testing.T, name string, m Mapping) Result {
	t.Helper()
	body := sample(t, name)
	if msg, err := ReadSNS(body); err == nil {
		if msg.Type != "Notification" {
			t.Fatalf("%s: SNS type %q", name, msg.Type)
		}
		body = []byte(msg.Message)
	}
	res, err := SES(body, m, now)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	checkValid(t, name, res)
	return res
}

func TestSESSamples(t *testing.T) {
	res := sesSample(t, "amazon-ses-webhook-bounce.json", Mapping{From: "header.x-tag"})
	if len(res.Events) != 1 {
		t.Fatalf("bounce: got %+v", res)
	}
	e := res.Events[0]
	if e.Type != monitor.EventBounce || e.Recipient != "jane@example.com" || e.Sender != "john@example.com" || e.AccountID != "tag 1" ||
		e.ID != "ses:00000138111222aa-44455566-cccc-cccc-cccc-ddddaaaa068a-000000/jane@example.com/Bounce" ||
		!e.OccurredAt.Equal(time.Date(2016, 1, 27, 14, 59, 44, 101000000, time.UTC)) {
		t.Errorf("bounce: got %+v", e)
	}
	if e.Decide(); e.Bounce.SMTPCode != 550 || e.Bounce.EnhancedStatus != "5.1.1" || e.Bounce.Verdict != monitor.BounceHard {
		t.Errorf("bounce reply: got %+v", *e.Bounce)
	}

	// Two recipients under one feedback id, no reply: two events, and the
	// bounce type decides.
	res = sesSample(t, "amazon-ses-webhook-multiple-bounce.json", Mapping{Default: "acme"})
	if len(res.Events) != 2 || res.Events[0].Recipient != "jane@example.com" || res.Events[1].Recipient != "richard@example.com" || res.Events[0].ID == res.Events[1].ID {
		t.Fatalf("multiple bounce: got %+v", res)
	}
	for _, e := range res.Events {
		if e.Decide(); e.Bounce.Verdict != monitor.BounceHard || e.Bounce.Rule != "hint" {
			t.Errorf("multiple bounce: %+v", *e.Bounce)
		}
	}

	for _, tc := range []struct {
		file      string
		typ       monitor.EventType
		recipient string
	}{
		{"amazon-ses-webhook-complaint.json", monitor.EventComplaint, "richard@example.com"},
		{"amazon-ses-webhook-delivery.json", monitor.EventDelivery, "jane@example.com"},
		{"sisimai-amazon-ses-notification-bounce.json", monitor.EventBounce, "bounce@simulator.amazonses.com"},
		{"sisimai-amazon-ses-sns-envelope-bounce.json", monitor.EventBounce, ""},
		{"sisimai-amazon-ses-notification-complaint.json", monitor.EventComplaint, ""},
		{"sisimai-amazon-ses-notification-delivery.json", monitor.EventDelivery, ""},
	} {
		res := sesSample(t, tc.file, Mapping{Default: "acme"})
		if len(res.Events) == 0 || res.Events[0].Type != tc.typ || (tc.recipient != "" && res.Events[0].Recipient != tc.recipient) {
			t.Errorf("%s: got %+v", tc.file, res)
		}
	}
	if res := sesSample(t, "amazon-ses-webhook-reject.json", Mapping{Default: "acme"}); res.Ignored != 1 || len(res.Events) != 0 {
		t.Errorf("reject: got %+v, want it ignored", res)
	}
}

func TestSESEventPublishing(t *testing.T) {
	send := []byte(`{"eventType":"Send","mail":{"timestamp":"2026-12-01T10:00:00Z","messageId":"m1","source":"News <news@shop.example>",
		"destination":["a@example.com","\"Bee\" <b@example.com>"],"tags":{"ses:configuration-set":["acme-prod"],"tenant":["t-9"]}},"send":{}}`)
	for field, want := range map[string]string{"configuration_set": "acme-prod", "tag.tenant": "t-9", "tag.none": "fallback"} {
		res, err := SES(send, Mapping{From: field, Default: "fallback"}, now)
		if err != nil || len(res.Events) != 2 || res.Events[0].AccountID != want || res.Events[1].Type != monitor.EventSend ||
			res.Events[1].Sender != "news@shop.example" || res.Events[1].Recipient != "b@example.com" || res.Events[0].ID == res.Events[1].ID {
			t.Errorf("mapped by %s: got %+v, %v; want two sends for %q", field, res, err, want)
		}
	}
	notSpam := []byte(`{"eventType":"Complaint","mail":{"messageId":"m2"},"complaint":{"complaintFeedbackType":"not-spam","complainedRecipients":[{"emailAddress":"a@example.com"}]}}`)
	suppressed := []byte(`{"notificationType":"Bounce","mail":{"messageId":"m3"},"bounce":{"bounceType":"Permanent","bounceSubType":"OnAccountSuppressionList","bouncedRecipients":[{"emailAddress":"a@example.com"}]}}`)
	for name, body := range map[string][]byte{"not-spam": notSpam, "suppressed": suppressed} {
		if res, err := SES(body, Mapping{Default: "acme"}, now); err != nil || res.Ignored != 1 || len(res.Events) != 0 {
			t.Errorf("%s: got %+v, %v; want it ignored", name, res, err)
		}
	}
	// Without a feedback id, a message that bounces for now and then for
	// good bounces twice.
	transient := []byte(`{"notificationType":"Bounce","mail":{"messageId":"m4"},"bounce":{"bounceType":"Transient","timestamp":"2026-12-01T10:00:00Z","bouncedRecipients":[{"emailAddress":"a@example.com"}]}}`)
	permanent := []byte(`{"notificationType":"Bounce","mail":{"messageId":"m4"},"bounce":{"bounceType":"Permanent","timestamp":"2026-12-01T14:00:00Z","bouncedRecipients":[{"emailAddress":"a@example.com"}]}}`)
	first, err1 := SES(transient, Mapping{Default: "acme"}, now)
	second, err2 := SES(permanent, Mapping{Default: "acme"}, now)
	if err1 != nil || err2 != nil || len(first.Events) != 1 || len(second.Events) != 1 || first.Events[0].ID == second.Events[0].ID {
		t.Errorf("two bounces of one message: got %+v, %v and %+v, %v; want two events", first, err1, second, err2)
	}
	for _, bad := range []string{``, `[]`, `{"notificationType":1}`} {
		if _, err := SES([]byte(bad), Mapping{Default: "acme"}, now); !errors.Is(err, ErrPayload) {
			t.Errorf("SES(%q): got %v, want ErrPayload", bad, err)
		}
	}
	for _, bad := range []string{``, `{}`, `{"Type":3}`} {
		if _, err := ReadSNS([]byte(bad)); !errors.Is(err, ErrPayload) {
			t.Errorf("ReadSNS(%q): got %v, want ErrPayload", bad, err)
		}
	}
}

func FuzzSES(f *testing.F) {
	f.Add([]byte(`{"notificationType":"Bounce","mail":{"messageId":"m","headers":[{"name":"X-A","value":"acme"}]},"bounce":{"bounceType":"Transient","bouncedRecipients":[{"emailAddress":"a@example.com","status":"4.2.2","diagnosticCode":"smtp; 452 4.2.2 full"}]}}`))
	f.Add([]byte(`{"eventType":"Complaint","complaint":{"complaintFeedbackType":"abuse\nx","complainedRecipients":[{"emailAddress":"a@example.com"}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := SES(body, Mapping{From: "header.x-a", Default: "acme"}, now)
		checkParsed(t, res, err)
		for _, e := range res.Events {
			if e.Complaint != nil && monitor.CheckText(e.Complaint.FeedbackType, monitor.MaxFeedbackTypeLen) != "" {
				t.Fatalf("feedback type %q", e.Complaint.FeedbackType)
			}
		}
	})
}
