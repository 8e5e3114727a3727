package intake

import (
	"errors"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

func TestMailgunSamples(t *testing.T) {
	for _, tc := range []struct {
		file    string
		typ     monitor.EventType
		id      string // "" for one made from the payload
		verdict monitor.BounceClass
		code    int
		status  string
	}{
		{"mailgun-webhook-delivered.json", monitor.EventDelivery, "mailgun:hTWCTD81RtiDN-.../1534108637.153125", 0, 0, ""},
		{"mailgun-webhook-complained.json", monitor.EventComplaint, "mailgun:ncV2XwymRUKbPek_MIM-Gw/1377214260.049634", 0, 0, ""},
		{"mailgun-webhook-failed-permanent.json", monitor.EventBounce, "", monitor.BounceHard, 550, "5.1.1"},
		{"mailgun-webhook-failed-greylisted.json", monitor.EventBounce, "", monitor.BounceSoft, 450, ""},
		// 498 is Mailgun's own code, not SMTP's, so the text alone speaks,
		// and "No MX for <domain>" tells no rule anything: undetermined
		// (a producer's hint decides only a bounce with nothing to read).
		{"mailgun-webhook-failed-temporary.json", monitor.EventBounce, "", monitor.BounceUndetermined, 0, ""},
	} {
		body := sample(t, tc.file)
		res, err := Mailgun(body, Mapping{Default: "acme"}, now)
		if err != nil || len(res.Events) != 1 {
			t.Fatalf("%s: got %+v, %v; want one event", tc.file, res, err)
		}
		e := res.Events[0]
		if e.Type != tc.typ || (tc.id != "" && e.ID != tc.id) || monitor.CheckID(e.ID) != "" || e.AccountID != "acme" {
			t.Errorf("%s: got %+v", tc.file, e)
		}
		if err := e.Validate(e.OccurredAt, monitor.DefaultLimits()); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
		if tc.typ == monitor.EventBounce {
			e.Decide()
			if b := e.Bounce; b.Verdict != tc.verdict || b.SMTPCode != tc.code || b.EnhancedStatus != tc.status {
				t.Errorf("%s: bounce %+v, want %v with %d %q", tc.file, *b, tc.verdict, tc.code, tc.status)
			}
		}
		again, _ := Mailgun(body, Mapping{Default: "acme"}, now.Add(time.Hour))
		if again.Events[0].ID != e.ID || !again.Events[0].OccurredAt.Equal(e.OccurredAt) {
			t.Errorf("%s: a retry made %+v, want the same event", tc.file, again.Events[0])
		}
	}
	res, err := Mailgun(sample(t, "mailgun-webhook-rejected.json"), Mapping{Default: "acme"}, now)
	if err != nil || res.Ignored != 1 || len(res.Events) != 0 {
		t.Errorf("rejected by Mailgun: got %+v, %v; want it ignored", res, err)
	}
	first, _ := Mailgun(sample(t, "mailgun-webhook-delivered.json"), Mapping{}, now)
	if want := time.Date(2018, 8, 12, 21, 17, 17, 153125000, time.UTC); len(first.Unmapped) != 1 || first.Unmapped[0].OccurredAt.Sub(want).Abs() > time.Microsecond {
		t.Errorf("delivered, no mapping: got %+v; want one unmapped event at %v", first, want)
	}
}

func TestMailgunMapping(t *testing.T) {
	body := []byte(`{"event-data":{"event":"unsubscribed","id":"u1","timestamp":1764763200,"recipient":"jane@example.com",
		"tags":["acme-news","weekly"],"user-variables":{"account":"acme","shard":7,"nested":{"a":1},"forged":"acme\u202egro"}}}`)
	for field, want := range map[string]string{"tag": "acme-news", "user-variables.account": "acme", "user-variables.forged": "fallback",
		"user-variables.shard": "7", "user-variables.nested": "fallback", "user-variables.none": "fallback", "other": "fallback"} {
		res, err := Mailgun(body, Mapping{From: field, Default: "fallback"}, now)
		if err != nil || len(res.Events) != 1 || res.Events[0].AccountID != want || res.Events[0].Type != monitor.EventUnsubscribe {
			t.Errorf("mapped by %s: got %+v, %v; want account %q", field, res, err, want)
		}
	}
	for _, bad := range []string{``, `{}`, `{"event-data":1}`, `[]`} {
		if _, err := Mailgun([]byte(bad), Mapping{Default: "acme"}, now); !errors.Is(err, ErrPayload) {
			t.Errorf("%q: got %v, want ErrPayload", bad, err)
		}
	}
}

// FuzzMailgun: as FuzzPostmark.
func FuzzMailgun(f *testing.F) {
	f.Add([]byte(`{"event-data":{"event":"failed","severity":"permanent","recipient":"a@example.com","timestamp":1.5,"delivery-status":{"code":550,"message":"5.1.1 x\ny"}}}`))
	f.Add([]byte(`{"event-data":{"event":"accepted","id":"x","tags":["t"],"user-variables":{"k":1}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Mailgun(body, Mapping{From: "user-variables.k", Default: "acme"}, now)
		checkParsed(t, res, err)
	})
}
