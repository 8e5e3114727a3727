package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/internal/logtext"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/server"
	"golang.org/x/sync/semaphore"
)

func TestUnmappedKept(t *testing.T) {
	e := newEnv(t, t0, func(o *Options) {
		o.Postmark = &Postmark{Username: "pm", Password: "s3cret", Mapping: intake.Mapping{From: "tag"}}
	})
	_, h := postmarkAuthAs("pm", "s3cret")
	body := []byte(`{"RecordType":"SpamComplaint","ID":7,"Email":"a@example.com","BouncedAt":"2026-12-03T11:00:00Z"}`)
	code, r := e.post(t, "postmark", body, h)
	if code != http.StatusOK || r.Unmapped != 1 || r.Accepted != 0 {
		t.Fatalf("got %d %+v, want 200 with one unmapped", code, r)
	}
	kept, _, err := e.db.Unmapped(context.Background(), "postmark", 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 1 || kept[0].Event.ID != "postmark:7" || kept[0].Event.Type != monitor.EventComplaint ||
		kept[0].Event.Recipient != "a@example.com" || !strings.Contains(kept[0].Reason, `"tag"`) || !kept[0].Received.Equal(t0) {
		t.Errorf("kept %+v, want the complaint with why", kept)
	}
	if n := e.counted("postmark", server.ResultUnmapped); n != 1 {
		t.Errorf("counted %d unmapped, want 1", n)
	}
	// The tag names an account that does not exist: anyone sending
	// through the platform may write a tag, so it is not created, and the
	// event is kept. A retry keeps nothing twice.
	tagged := []byte(`{"RecordType":"SpamComplaint","ID":8,"Tag":"acme","Email":"b@example.com","BouncedAt":"2026-12-03T11:00:00Z"}`)
	for range 2 {
		if code, r := e.post(t, "postmark", tagged, h); code != http.StatusOK || r.Unmapped != 1 {
			t.Errorf("tagged, no such account: got %d %+v, want one unmapped", code, r)
		}
	}
	kept, _, err = e.db.Unmapped(context.Background(), "postmark", 10, "")
	if err != nil || len(kept) != 2 || !strings.Contains(kept[0].Reason, `account "acme" does not exist`) {
		t.Errorf("kept %+v, %v; want the tagged complaint once more, with why", kept, err)
	}
	// Once the account exists, the tag is taken.
	if _, err := e.db.UpdateAccount(context.Background(), "acme", monitor.Actor{Name: "admin", Role: "admin"}, func(*monitor.Account) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if code, r := e.post(t, "postmark", tagged, h); code != http.StatusOK || r.Accepted != 1 {
		t.Errorf("tagged: got %d %+v, want one accepted", code, r)
	}
	if got := e.recipient(t, "acme", "b@example.com"); got != monitor.RecipientSuppressed {
		t.Errorf("tagged complaint: recipient %v, want suppressed", got)
	}
}

func TestPostLimits(t *testing.T) {
	e := newEnv(t, t0, func(o *Options) {
		postmarkHooks(o)
		o.MaxBodyBytes = 1 << 10
	})
	_, h := postmarkAuthAs("pm", "s3cret")
	big := []byte(`{"RecordType":"Delivery","Recipient":"a@example.com","Details":"` + strings.Repeat("x", 2<<10) + `"}`)
	if code, _ := e.post(t, "postmark", big, h); code != http.StatusRequestEntityTooLarge {
		t.Errorf("long post: got %d, want 413", code)
	}
	// Credentials are checked before the body is read.
	if code, _ := e.post(t, "postmark", big, nil); code != http.StatusUnauthorized {
		t.Errorf("long post without credentials: got %d, want 401", code)
	}
	if code, _ := e.post(t, "postmark", []byte(`{"RecordType":`), h); code != http.StatusBadRequest {
		t.Errorf("cut off: got %d, want 400", code)
	}
	// Hooks without a secret configured are not served.
	if code, _ := e.post(t, "mailgun", []byte(`{}`), nil); code != http.StatusNotFound {
		t.Errorf("mailgun not configured: got %d, want 404", code)
	}
	resp, err := http.Get(e.url + "/v1/hooks/postmark")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: got %d, want 405", resp.StatusCode)
	}
}

func TestHostileReason(t *testing.T) {
	// A reader whose reason quotes the post as it came: the answer and
	// the log get plain, bounded text without control characters.
	hostile := strings.Repeat("\x1b[31m<b>\u202e\r\nforged: 1 \xff", 100)
	var logged bytes.Buffer
	h := &hooks{log: slog.New(slog.NewTextHandler(&logged, nil)), clock: time.Now, maxBody: 1 << 10, slots: semaphore.NewWeighted(1)}
	for _, err := range []error{fmt.Errorf("x: %w: %s", intake.ErrPayload, hostile), fmt.Errorf("x: %w: %s", intake.ErrSignature, hostile)} {
		p := provider{name: "x", read: func(context.Context, *http.Request, []byte, time.Time) (intake.Result, func(), error) {
			return intake.Result{}, nil, err
		}}
		rec := httptest.NewRecorder()
		h.serve(p).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/hooks/x", strings.NewReader("{}")))
		body := rec.Body.String()
		if rec.Code/100 != 4 || len(body) > logtext.MaxLen+10 || strings.ContainsAny(body, "\x1b\u202e\r") || strings.Count(body, "\n") != 1 ||
			!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") || !utf8.ValidString(body) {
			t.Errorf("%v: got %d %q (%s)", errors.Unwrap(err), rec.Code, body, rec.Header().Get("Content-Type"))
		}
	}
	if strings.ContainsAny(logged.String(), "\x1b\u202e") || strings.Contains(logged.String(), "\nforged") {
		t.Errorf("log: %q", logged.String())
	}
}

func TestCommitFailureAsksForRetry(t *testing.T) {
	e := newEnv(t, t0, postmarkHooks)
	_, h := postmarkAuthAs("pm", "s3cret")
	e.srv.Drain()
	body := []byte(`{"RecordType":"SpamComplaint","ID":9,"Email":"a@example.com","BouncedAt":"2026-12-03T11:00:00Z"}`)
	req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/hooks/postmark", bytes.NewReader(body))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("draining server: got %d, Retry-After %q; want 503 with one", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
