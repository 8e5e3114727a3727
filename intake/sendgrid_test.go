package intake

import (
	"errors"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

func TestSendGridSamples(t *testing.T) {
	for _, tc := range []struct {
		file    string
		typ     monitor.EventType
		id      string
		verdict monitor.BounceClass
		ignored int // records that carry nothing for dpmon
	}{
		{"sendgrid-webhook-bounce.json", monitor.EventBounce, "sendgrid:lC0Rc-FuQmKbnxCWxX1jRQ", monitor.BounceHard, 0},
		{"sendgrid-webhook-delivered.json", monitor.EventDelivery, "sendgrid:nOSv8m0eTQ-vxvwNwt3fZQ", 0, 0},
		{"sendgrid-webhook-deferred.json", monitor.EventBounce, "sendgrid:b_syL5UiTvWC_Ky5L6Bs5Q", monitor.BounceSoft, 0},
		// "blocked" is SendGrid's type; the replies say otherwise.
		{"sisimai-sendgrid-event-bounce-blocked.json", monitor.EventBounce, "sendgrid:S4wr46YHS0qr3BKhawTQjQ", monitor.BounceSoft, 0},
		{"sisimai-sendgrid-event-bounce-disabled.json", monitor.EventBounce, "sendgrid:G9n4tny6SbOd2OOIwR4WWQ", monitor.BounceHard, 0},
		{"sisimai-sendgrid-event-delivered.json", monitor.EventDelivery, "", 0, 0},
		// Never offered to a remote server.
		{"sendgrid-webhook-dropped-bounced.json", 0, "", 0, 1},
		{"sendgrid-webhook-dropped-invalid.json", 0, "", 0, 1},
		// Not a webhook post: the Bounces API's list, whose records name
		// no event.
		{"sisimai-sendgrid-bounces-api-list.json", 0, "", 0, 2},
	} {
		res, err := SendGrid(sample(t, tc.file), Mapping{Default: "acme"}, now)
		events := 1
		if tc.ignored > 0 {
			events = 0
		}
		if err != nil || res.Ignored != tc.ignored || len(res.Events) != events {
			t.Errorf("%s: got %+v, %v", tc.file, res, err)
			continue
		}
		if tc.ignored > 0 {
			continue
		}
		e := res.Events[0]
		if e.Type != tc.typ || (tc.id != "" && e.ID != tc.id) || monitor.CheckID(e.ID) != "" || e.AccountID != "acme" {
			t.Errorf("%s: got %+v", tc.file, e)
		}
		if err := e.Validate(e.OccurredAt, monitor.DefaultLimits()); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
		if e.Decide(); e.Bounce != nil && e.Bounce.Verdict != tc.verdict {
			t.Errorf("%s: verdict %v by %s, want %v", tc.file, e.Bounce.Verdict, e.Bounce.Rule, tc.verdict)
		}
	}
}

// A post batches events; each maps on its own.
func TestSendGridBatchAndMapping(t *testing.T) {
	body := []byte(`[
		{"event":"processed","sg_event_id":"p1","email":"a@example.com","timestamp":1764763200,"category":"acme","tenant":"t-1"},
		{"event":"open","sg_event_id":"o1","email":"a@example.com","timestamp":1764763260,"category":["globex","news"],"tenant":42},
		{"event":"spamreport","sg_event_id":"s1","email":"b@example.com","timestamp":1764763320},
		{"event":"group_resubscribe","sg_event_id":"g1","email":"b@example.com","timestamp":1764763380}]`)
	res, err := SendGrid(body, Mapping{From: "category"}, now)
	if err != nil || res.Ignored != 1 || len(res.Events) != 2 || len(res.Unmapped) != 1 {
		t.Fatalf("got %+v, %v; want 2 events, 1 unmapped, 1 ignored", res, err)
	}
	if a, b := res.Events[0], res.Events[1]; a.Type != monitor.EventSend || a.AccountID != "acme" || b.Type != monitor.EventOpen || b.AccountID != "globex" ||
		!a.OccurredAt.Equal(time.Unix(1764763200, 0)) {
		t.Errorf("by category: got %+v and %+v", a, b)
	}
	if u := res.Unmapped[0]; u.Type != monitor.EventComplaint || u.ID != "sendgrid:s1" {
		t.Errorf("unmapped: got %+v", u)
	}
	res, err = SendGrid(body, Mapping{From: "custom_args.tenant", Default: "acme"}, now)
	if err != nil || len(res.Events) != 3 || res.Events[0].AccountID != "t-1" || res.Events[1].AccountID != "42" || res.Events[2].AccountID != "acme" {
		t.Errorf("by custom argument: got %+v, %v", res, err)
	}
	// One event SendGrid wrote oddly is counted, and the rest taken.
	res, err = SendGrid([]byte(`[1, {"timestamp":"soon"}, {"event":"delivered","sg_event_id":"d1","email":"a@example.com","timestamp":1764763200.5}]`), Mapping{Default: "acme"}, now)
	if err != nil || res.Malformed != 2 || len(res.Events) != 1 || !res.Events[0].OccurredAt.Equal(time.Unix(1764763200, 5e8)) {
		t.Errorf("a batch with malformed events: got %+v, %v", res, err)
	}
	for _, bad := range []string{``, `{}`, `[1`} {
		if _, err := SendGrid([]byte(bad), Mapping{Default: "acme"}, now); !errors.Is(err, ErrPayload) {
			t.Errorf("%q: got %v, want ErrPayload", bad, err)
		}
	}
}

func FuzzSendGrid(f *testing.F) {
	f.Add([]byte(`[{"event":"bounce","type":"blocked","status":"5.7.1","reason":"550 5.7.1 no","email":"a@example.com","timestamp":1,"tenant":"x"}]`))
	f.Add([]byte(`[{"event":"deferred","response":"451 later\r\nplease","category":["a"]}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := SendGrid(body, Mapping{From: "custom_args.tenant", Default: "acme"}, now)
		checkParsed(t, res, err)
	})
}
