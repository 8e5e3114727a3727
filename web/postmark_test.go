package web

import (
	"net/http"
	"testing"
	"time"

	"github.com/dpmon/dpmon/intake"
)

func postmarkHooks(o *Options) {
	o.Postmark = &Postmark{Username: "pm", Password: "s3cret", Mapping: intake.Mapping{Default: "acme"}}
}

func postmarkAuth(body []byte, _ time.Time) ([]byte, http.Header) {
	_, h := postmarkAuthAs("pm", "s3cret")
	return body, h
}

func TestPostmarkSamples(t *testing.T) {
	want := map[string]string{
		// No recipient: refused, and answered 200 all the same.
		"postmark-webhook-bounce-unsubscribe-variant.json": "accepted 0 ignored 0, sends 0 hard 0 complaints 0 blocks 0, ",
		// One hard bounce of an address at no mailbox provider's domain
		// is counted; the second suppresses.
		"postmark-webhook-bounce.json":    "accepted 1 ignored 0, sends 0 hard 1 complaints 0 blocks 0, bounce@example.com=active",
		"postmark-webhook-delivered.json": "accepted 1 ignored 0, sends 0 hard 0 complaints 0 blocks 0, recipient@example.com=active",
		"postmark-webhook-spam.json":      "accepted 1 ignored 0, sends 0 hard 0 complaints 1 blocks 0, spam@example.com=suppressed",
		// Postmark's echo of its own suppression after a bounce.
		"postmark-webhook-subscription-change-bounce.json": "accepted 0 ignored 1, sends 0 hard 0 complaints 0 blocks 0, ",
	}
	for _, name := range webhookSamples(t, "postmark-") {
		o := postSample(t, "postmark", name, intake.Postmark, postmarkHooks, postmarkAuth)
		if w, ok := want[name]; !ok || o.String() != w {
			t.Errorf("%s:\n got %v\nwant %s", name, o, w)
		}
	}
}

func TestPostmarkCredentials(t *testing.T) {
	e := newEnv(t, t0, postmarkHooks)
	body := []byte(`{"RecordType":"SpamComplaint","ID":1,"Email":"a@example.com","BouncedAt":"2026-12-03T11:00:00Z"}`)
	for _, tc := range []struct {
		name       string
		user, pass string
	}{
		{"none", "", ""},
		{"wrong password", "pm", "guess"},
		{"wrong user", "other", "s3cret"},
	} {
		h := http.Header{}
		if tc.user != "" {
			_, h = postmarkAuthAs(tc.user, tc.pass)
		}
		if code, _ := e.post(t, "postmark", body, h); code != http.StatusUnauthorized {
			t.Errorf("%s: got %d, want 401", tc.name, code)
		}
	}
	if n := e.counted("postmark", ResultUnauthorized); n != 3 {
		t.Errorf("counted %d unauthorized, want 3", n)
	}
	_, h := postmarkAuthAs("pm", "s3cret")
	if code, r := e.post(t, "postmark", body, h); code != http.StatusOK || r.Accepted != 1 {
		t.Errorf("good credentials: got %d %+v, want one accepted", code, r)
	}
}

func postmarkAuthAs(user, pass string) ([]byte, http.Header) {
	r, _ := http.NewRequest(http.MethodPost, "http://x", nil)
	r.SetBasicAuth(user, pass)
	return nil, r.Header
}
