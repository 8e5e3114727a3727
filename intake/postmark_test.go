package intake

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// sample reads a provider payload of the corpus's samples/webhooks.
func sample(t *testing.T, name string) []byte {
	t.Helper()
	body, err := io.ReadAll(monitortest.OpenCorpus(t, "samples", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// checkValid fails the test for an event dpmon would refuse at ingest
// (dated by the event itself: the samples are years old).
func checkValid(t *testing.T, name string, res Result) {
	t.Helper()
	for _, e := range res.Events {
		if err := e.Validate(e.OccurredAt, monitor.DefaultLimits()); err != nil {
			t.Errorf("%s: %+v: %v", name, e, err)
		}
	}
}

// onePostmark returns the only event of a Postmark post, failing the test
// otherwise.
func onePostmark(t *testing.T, body []byte, m Mapping, now time.Time) monitor.Event {
	t.Helper()
	res, err := Postmark(body, m, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 1 || len(res.Unmapped) != 0 || res.Ignored != 0 {
		t.Fatalf("got %d events, %d unmapped, %d ignored; want one event", len(res.Events), len(res.Unmapped), res.Ignored)
	}
	return res.Events[0]
}

func TestPostmarkSamples(t *testing.T) {
	byDefault := Mapping{Default: "acme"}

	e := onePostmark(t, sample(t, "postmark-webhook-bounce.json"), byDefault, now)
	if e.Type != monitor.EventBounce || e.ID != "postmark:901542550" || e.AccountID != "acme" ||
		e.Recipient != "bounce@example.com" || e.Sender != "sender@example.com" ||
		!e.OccurredAt.Equal(time.Date(2016, 4, 27, 20, 28, 50, 396393300, time.UTC)) {
		t.Errorf("bounce: got %+v", e)
	}
	if b := *e.Bounce; b.SMTPCode != 550 || b.EnhancedStatus != "5.1.1" || b.Class != monitor.BounceHard ||
		b.Diagnostic != "550 5.1.1 The email account that you tried to reach does not exist." {
		t.Errorf("bounce reply: got %+v", b)
	}
	if err := e.Validate(e.OccurredAt, monitor.DefaultLimits()); err != nil { // the sample is from 2016
		t.Errorf("bounce: %v", err)
	}
	if e.Decide(); e.Bounce.Verdict != monitor.BounceHard {
		t.Errorf("bounce classified %v by %s, want hard", e.Bounce.Verdict, e.Bounce.Rule)
	}

	e = onePostmark(t, sample(t, "postmark-webhook-spam.json"), Mapping{From: "tag"}, now)
	if e.Type != monitor.EventComplaint || e.Complaint.FeedbackType != "abuse" || e.Recipient != "spam@example.com" || e.AccountID != "Test" {
		t.Errorf("spam complaint: got %+v", e)
	}

	delivered := sample(t, "postmark-webhook-delivered.json")
	e = onePostmark(t, delivered, Mapping{From: "metadata.userid", Default: "acme"}, now)
	if e.Type != monitor.EventDelivery || e.Recipient != "recipient@example.com" || e.AccountID != "12345" ||
		!e.OccurredAt.Equal(time.Date(2014, 8, 1, 17, 28, 10, 273539300, time.UTC)) {
		t.Errorf("delivery: got %+v", e)
	}
	// A retry of the same post is the same event.
	again := onePostmark(t, delivered, Mapping{From: "metadata.userid"}, now.Add(time.Hour))
	if again.ID != e.ID || monitor.CheckID(e.ID) != "" {
		t.Errorf("delivery ids %q and %q: want one valid id", e.ID, again.ID)
	}
	for field, want := range map[string]string{"server": "23", "tag": "welcome-email", "metadata.cohort": "2014-08-A", "metadata.none": "acme"} {
		if e := onePostmark(t, delivered, Mapping{From: field, Default: "acme"}, now); e.AccountID != want {
			t.Errorf("mapped by %s: account %q, want %q", field, e.AccountID, want)
		}
	}
	res, err := Postmark(delivered, Mapping{From: "message_stream"}, now)
	if err != nil || len(res.Events) != 0 || len(res.Unmapped) != 1 || res.Unmapped[0].AccountID != "" {
		t.Errorf("no account: got %+v, %v; want one unmapped event", res, err)
	}

	// Postmark's suppression after a hard bounce echoes the bounce.
	res, err = Postmark(sample(t, "postmark-webhook-subscription-change-bounce.json"), byDefault, now)
	if err != nil || len(res.Events)+len(res.Unmapped) != 0 || res.Ignored != 1 {
		t.Errorf("subscription change after a bounce: got %+v, %v; want it ignored", res, err)
	}

	// An unsubscribe that names no recipient and no time: dated on
	// arrival, and refused at ingest for its recipient.
	e = onePostmark(t, sample(t, "postmark-webhook-bounce-unsubscribe-variant.json"), byDefault, now)
	if e.Type != monitor.EventUnsubscribe || e.ID != "postmark:555555555" || !e.OccurredAt.Equal(now) {
		t.Errorf("unsubscribe: got %+v", e)
	}
	var fe monitor.FieldError
	if err := e.Validate(now, monitor.DefaultLimits()); !errors.As(err, &fe) || fe.Field != "recipient" {
		t.Errorf("unsubscribe without a recipient: Validate = %v, want a recipient error", err)
	}
}

// Records without an ID of their own, for one message and recipient,
// are told apart by their kind.
func TestPostmarkIDsWithoutTheProvidersOwn(t *testing.T) {
	ids := map[string]bool{}
	for _, body := range []string{
		`{"RecordType":"Bounce","Type":"SoftBounce","MessageID":"m","Email":"a@example.com"}`,
		`{"RecordType":"Bounce","Type":"HardBounce","MessageID":"m","Email":"a@example.com"}`,
		`{"RecordType":"Bounce","Type":"Unsubscribe","MessageID":"m","Email":"a@example.com"}`,
		`{"RecordType":"Delivery","MessageID":"m","Recipient":"a@example.com"}`,
	} {
		ids[onePostmark(t, []byte(body), Mapping{Default: "acme"}, now).ID] = true
	}
	if len(ids) != 4 {
		t.Errorf("got ids %v, want 4 distinct", ids)
	}
}

func TestPostmarkRefusesWhatItCannotRead(t *testing.T) {
	for _, body := range []string{``, `[`, `[{"RecordType":"Bounce"}]`, `{"RecordType":"Bounce","ID":"x"}`} {
		if _, err := Postmark([]byte(body), Mapping{Default: "acme"}, now); !errors.Is(err, ErrPayload) {
			t.Errorf("%q: got %v, want ErrPayload", body, err)
		}
	}
}
