package web

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/server"
)

func newSendGridKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func sendGridHooks(key *ecdsa.PrivateKey) func(*Options) {
	return func(o *Options) {
		o.SendGrid = &SendGrid{Key: &key.PublicKey, MaxAge: 15 * time.Minute, Mapping: intake.Mapping{Default: "acme"}}
	}
}

// sendGridSigned signs a post as SendGrid does: ECDSA over the timestamp
// header and the body.
func sendGridSigned(t testing.TB, key *ecdsa.PrivateKey, body []byte, ts time.Time) http.Header {
	t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	sum := sha256.Sum256(append([]byte(stamp), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(sendGridTimestamp, stamp)
	h.Set(sendGridSignature, base64.StdEncoding.EncodeToString(sig))
	return h
}

func TestSendGridSamples(t *testing.T) {
	key := newSendGridKey(t)
	want := map[string]string{
		"sendgrid-webhook-bounce.json":    "accepted 1 ignored 0, sends 0 hard 1 complaints 0 blocks 0, noreply@example.com=active",
		"sendgrid-webhook-deferred.json":  "accepted 1 ignored 0, sends 0 hard 0 complaints 0 blocks 0, recipient@example.com=temporarily blocked",
		"sendgrid-webhook-delivered.json": "accepted 1 ignored 0, sends 0 hard 0 complaints 0 blocks 0, recipient@example.com=active",
		// SendGrid's echoes of its own suppression lists: nothing new.
		"sendgrid-webhook-dropped-bounced.json": "accepted 0 ignored 1, sends 0 hard 0 complaints 0 blocks 0, ",
		"sendgrid-webhook-dropped-invalid.json": "accepted 0 ignored 1, sends 0 hard 0 complaints 0 blocks 0, ",
		// The Bounces API's list, not the Event Webhook: no event in it.
		"sisimai-sendgrid-bounces-api-list.json": "accepted 0 ignored 2, sends 0 hard 0 complaints 0 blocks 0, ",
		// SendGrid says "blocked"; the reply (5.2.2 mailbox full) says
		// soft, and decides.
		"sisimai-sendgrid-event-bounce-blocked.json":  "accepted 1 ignored 0, sends 0 hard 0 complaints 0 blocks 0, mailboxfull@example.jp=temporarily blocked",
		"sisimai-sendgrid-event-bounce-disabled.json": "accepted 1 ignored 0, sends 0 hard 1 complaints 0 blocks 0, kijitora@example.jp=active",
		"sisimai-sendgrid-event-delivered.json":       "accepted 1 ignored 0, sends 0 hard 0 complaints 0 blocks 0, kijitora@example.com=active",
		"sisimai-sendgrid-event-spamreport.json":      "accepted 1 ignored 0, sends 0 hard 0 complaints 1 blocks 0, kijitora@example.com=suppressed",
	}
	for _, name := range webhookSamples(t, "sendgrid-", "sisimai-sendgrid-") {
		o := postSample(t, "sendgrid", name, intake.SendGrid, sendGridHooks(key), func(body []byte, now time.Time) ([]byte, http.Header) {
			return body, sendGridSigned(t, key, body, now)
		})
		if w, ok := want[name]; !ok || o.String() != w {
			t.Errorf("%s:\n got %v\nwant %s", name, o, w)
		}
	}
}

func TestSendGridSignatures(t *testing.T) {
	key := newSendGridKey(t)
	e := newEnv(t, t0, sendGridHooks(key))
	body := []byte(`[{"event":"spamreport","sg_event_id":"s1","email":"a@example.com","timestamp":` + strconv.FormatInt(t0.Add(-time.Minute).Unix(), 10) + `}]`)
	other := sendGridSigned(t, newSendGridKey(t), body, t0)
	tampered := sendGridSigned(t, key, body, t0)
	tampered.Set(sendGridTimestamp, strconv.FormatInt(t0.Unix()+1, 10))
	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"unsigned", nil},
		{"another key", other},
		{"timestamp changed", tampered},
		{"stale", sendGridSigned(t, key, body, t0.Add(-time.Hour))},
		{"not base64", http.Header{sendGridTimestamp: {strconv.FormatInt(t0.Unix(), 10)}, sendGridSignature: {"%%%"}}},
	} {
		if code, _ := e.post(t, "sendgrid", body, tc.header); code != http.StatusUnauthorized {
			t.Errorf("%s: got %d, want 401", tc.name, code)
		}
	}
	if code, r := e.post(t, "sendgrid", body, sendGridSigned(t, key, body, t0)); code != http.StatusOK || r.Accepted != 1 {
		t.Errorf("signed: got %d %+v, want one accepted", code, r)
	}
	if code, _ := e.post(t, "sendgrid", []byte(`{"not":"an array"}`), sendGridSigned(t, key, []byte(`{"not":"an array"}`), t0)); code != http.StatusBadRequest {
		t.Errorf("not an array: got %d, want 400", code)
	}
	// Without the headers, or with a stale timestamp, the body is not
	// even read: a long one gets 401, not 413.
	long := bytes.Repeat([]byte("x"), DefaultMaxBodyBytes+1)
	if code, _ := e.post(t, "sendgrid", long, nil); code != http.StatusUnauthorized {
		t.Errorf("long unsigned post: got %d, want 401", code)
	}
	if got := [2]int{e.counted("sendgrid", ResultUnauthorized), e.counted("sendgrid", server.ResultRejected)}; got != [2]int{6, 1} {
		t.Errorf("counted %d unauthorized and %d rejected, want 6 and 1", got[0], got[1])
	}
}
