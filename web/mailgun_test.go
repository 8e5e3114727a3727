package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/dpmon/dpmon/intake"
)

var mailgunKey = []byte("key-test-signing")

func mailgunHooks(o *Options) {
	o.Mailgun = &Mailgun{SigningKey: mailgunKey, MaxAge: 15 * time.Minute, Mapping: intake.Mapping{Default: "acme"}}
}

// mailgunSigned replaces a post's signature object with one Mailgun would
// make at ts with token.
func mailgunSigned(t testing.TB, body []byte, ts time.Time, token string, key []byte) []byte {
	t.Helper()
	var post map[string]json.RawMessage
	if err := json.Unmarshal(body, &post); err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(stamp + token))
	sig, err := json.Marshal(map[string]string{"timestamp": stamp, "token": token, "signature": hex.EncodeToString(mac.Sum(nil))})
	if err != nil {
		t.Fatal(err)
	}
	post["signature"] = sig
	out, err := json.Marshal(post)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newToken(t testing.TB) string {
	t.Helper()
	b := make([]byte, 25)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestMailgunSamples(t *testing.T) {
	want := map[string]string{
		"mailgun-webhook-complained.json": "accepted 1 ignored 0, sends 0 hard 0 complaints 1 blocks 0, recipient@example.com=suppressed",
		"mailgun-webhook-delivered.json":  "accepted 1 ignored 0, sends 0 hard 0 complaints 0 blocks 0, recipient@example.com=active",
		// 450 greylisting: a soft bounce, which blocks the address for a
		// while.
		"mailgun-webhook-failed-greylisted.json": "accepted 1 ignored 0, sends 0 hard 0 complaints 0 blocks 0, undeliverable@mx.example.com=temporarily blocked",
		"mailgun-webhook-failed-permanent.json":  "accepted 1 ignored 0, sends 0 hard 1 complaints 0 blocks 0, invalid@example.com=active",
		// Mailgun's own 498 "No MX": nothing a rule reads, undetermined.
		"mailgun-webhook-failed-temporary.json": "accepted 1 ignored 0, sends 0 hard 0 complaints 0 blocks 0, undeliverable@nomx.example.com=active",
		// Mailgun's refusal to send at all: nothing reached a recipient.
		"mailgun-webhook-rejected.json": "accepted 0 ignored 1, sends 0 hard 0 complaints 0 blocks 0, ",
	}
	for _, name := range webhookSamples(t, "mailgun-") {
		o := postSample(t, "mailgun", name, intake.Mailgun, mailgunHooks, func(body []byte, now time.Time) ([]byte, http.Header) {
			return mailgunSigned(t, body, now, newToken(t), mailgunKey), nil
		})
		if w, ok := want[name]; !ok || o.String() != w {
			t.Errorf("%s:\n got %v\nwant %s", name, o, w)
		}
	}
}

func TestMailgunSignatures(t *testing.T) {
	e := newEnv(t, t0, mailgunHooks)
	body := []byte(`{"event-data":{"event":"complained","id":"c1","timestamp":` + strconv.FormatInt(t0.Add(-time.Minute).Unix(), 10) +
		`,"recipient":"a@example.com"}}`)
	token := newToken(t)
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"no signature", body},
		{"another key", mailgunSigned(t, body, t0, token, []byte("key-other"))},
		{"stale timestamp", mailgunSigned(t, body, t0.Add(-20*time.Minute), token, mailgunKey)},
		{"future timestamp", mailgunSigned(t, body, t0.Add(20*time.Minute), token, mailgunKey)},
	} {
		if code, _ := e.post(t, "mailgun", tc.body, nil); code != http.StatusUnauthorized {
			t.Errorf("%s: got %d, want 401", tc.name, code)
		}
	}
	// None of the refused posts used the token up.
	signed := mailgunSigned(t, body, t0, token, mailgunKey)
	if code, r := e.post(t, "mailgun", signed, nil); code != http.StatusOK || r.Accepted != 1 {
		t.Fatalf("signed: got %d %+v, want one accepted", code, r)
	}
	// The same post again is Mailgun's retry after a lost answer:
	// nothing new. The token with another post is a replay.
	if code, r := e.post(t, "mailgun", signed, nil); code != http.StatusOK || r.Duplicates != 1 {
		t.Errorf("the same post again: got %d %+v, want one duplicate", code, r)
	}
	other := []byte(`{"event-data":{"event":"complained","id":"c2","timestamp":` + strconv.FormatInt(t0.Add(-time.Minute).Unix(), 10) +
		`,"recipient":"b@example.com"}}`)
	if code, _ := e.post(t, "mailgun", mailgunSigned(t, other, t0, token, mailgunKey), nil); code != http.StatusUnauthorized {
		t.Errorf("the token on another post: got %d, want 401", code)
	}
	if n := e.counted("mailgun", ResultUnauthorized); n != 5 {
		t.Errorf("counted %d unauthorized, want 5", n)
	}
	// Past the window the token is forgotten, and the timestamp refused.
	e.clock.Set(t0.Add(time.Hour))
	if code, _ := e.post(t, "mailgun", signed, nil); code != http.StatusUnauthorized {
		t.Errorf("replayed an hour later: got %d, want 401", code)
	}
}

func TestMailgunTokenGivenBackWhenNotCommitted(t *testing.T) {
	e := newEnv(t, t0, mailgunHooks)
	token := newToken(t)
	post := mailgunSigned(t, []byte(`{"event-data":{"event":"delivered","id":"d1","recipient":"a@example.com"}}`), t0, token, mailgunKey)
	e.srv.Drain()
	if code, _ := e.post(t, "mailgun", post, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("draining server: got %d, want 503", code)
	}
	// The 503 gave the token back: another post with it is not refused
	// as a replay (it meets the draining server's 503 again).
	other := mailgunSigned(t, []byte(`{"event-data":{"event":"delivered","id":"d2","recipient":"b@example.com"}}`), t0, token, mailgunKey)
	if code, _ := e.post(t, "mailgun", other, nil); code != http.StatusServiceUnavailable {
		t.Errorf("token given back after a 503: got %d, want 503 again (not 401)", code)
	}
}

func TestMailgunTokenGivenBackWhenNotTaken(t *testing.T) {
	e := newEnv(t, t0, mailgunHooks)
	token := newToken(t)
	// Read but refused as a whole: the provider's fix and retry must not
	// meet a used token.
	bad := mailgunSigned(t, []byte(`{"event-data":"not an object"}`), t0, token, mailgunKey)
	if code, _ := e.post(t, "mailgun", bad, nil); code != http.StatusBadRequest {
		t.Fatalf("bad event-data: got %d, want 400", code)
	}
	good := mailgunSigned(t, []byte(`{"event-data":{"event":"delivered","id":"d1","recipient":"a@example.com"}}`), t0, token, mailgunKey)
	if code, r := e.post(t, "mailgun", good, nil); code != http.StatusOK || r.Accepted != 1 {
		t.Errorf("same token after a refused post: got %d %+v, want one accepted", code, r)
	}
}
