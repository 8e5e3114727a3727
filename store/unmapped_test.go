package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// unmappedDB opens a store that keeps at most bound unmapped events and,
// on cleanup, closes it and checks the file's integrity.
func unmappedDB(t *testing.T, dir string, c *monitortest.Clock, bound int) *DB {
	t.Helper()
	db, err := Open(dir, Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(),
		Clock: c.Now, MaxUnmapped: bound})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, db) })
	return db
}

// unmapped builds n sends from source, received a minute apart from t0,
// with ids prefix-0...
func unmapped(source, prefix string, n int) []Unmapped {
	out := make([]Unmapped, n)
	for i := range out {
		out[i] = Unmapped{Source: source, Received: t0.Add(time.Duration(i) * time.Minute), Reason: "no tag",
			Event: monitor.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Type: monitor.EventSend, OccurredAt: t0, Recipient: "a@example.com"}}
	}
	return out
}

// allUnmapped lists the unmapped events of source, page by page.
func allUnmapped(t *testing.T, db *DB, source string, size int) []Unmapped {
	t.Helper()
	var out []Unmapped
	token := ""
	for {
		page, next, err := db.Unmapped(context.Background(), source, size, token)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		token = next
	}
}

func unmappedIDs(us []Unmapped) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Event.ID)
	}
	return out
}

func TestUnmappedRoundTrip(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	at := time.Date(2026, 11, 24, 9, 59, 0, 123456789, time.UTC)
	kept := []Unmapped{
		{Source: "mailgun", Received: t0.Add(time.Nanosecond), Reason: `no "tag" value and no hooks.mailgun.default_account`,
			Event: monitor.Event{ID: "b1", Type: monitor.EventBounce, OccurredAt: at, Recipient: "b@example.com", Sender: "n@acme.example", MessageID: "<m@acme>",
				Bounce: &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "user unknown", Class: monitor.BounceHard}}},
		{Source: "ses", Received: t0.Add(time.Second), Reason: "no mapping for configuration set",
			Event: monitor.Event{ID: "c1", Type: monitor.EventComplaint, OccurredAt: at, Recipient: "c@example.com",
				Complaint: &monitor.Complaint{FeedbackType: "abuse", Source: "fbl"}}},
	}
	if err := db.KeepUnmapped(context.Background(), kept); err != nil {
		t.Fatal(err)
	}
	got, next, err := db.Unmapped(context.Background(), "", 10, "")
	if err != nil || next != "" {
		t.Fatalf("got next %q, err %v; want none", next, err)
	}
	want := []Unmapped{kept[1], kept[0]}
	want[0].Seq, want[1].Seq = 2, 1
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestUnmappedReasonIsCut(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	u := unmapped("mailgun", "m", 1)
	u[0].Reason = strings.Repeat("x", maxUnmappedReason-1) + "é" + strings.Repeat("x", 1000) // é straddles the bound
	u[0].Received = time.Time{}
	if err := db.KeepUnmapped(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	got := allUnmapped(t, db, "", 10)
	if len(got) != 1 || len(got[0].Reason) != maxUnmappedReason-1 || strings.ContainsRune(got[0].Reason, 'é') {
		t.Errorf("got a reason of %d bytes, want %d", len(got[0].Reason), maxUnmappedReason-1)
	}
	if !got[0].Received.Equal(t0) {
		t.Errorf("got received %v, want the store's clock %v", got[0].Received, t0)
	}
}

func TestUnmappedKeepsTheNewest(t *testing.T) {
	c := monitortest.New(t0)
	db := unmappedDB(t, t.TempDir(), c, 3)
	if err := db.KeepUnmapped(context.Background(), unmapped("mailgun", "a", 2)); err != nil {
		t.Fatal(err)
	}
	if err := db.KeepUnmapped(context.Background(), unmapped("mailgun", "b", 3)); err != nil {
		t.Fatal(err)
	}
	if got, want := unmappedIDs(allUnmapped(t, db, "", 10)), []string{"b-2", "b-1", "b-0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// One call beyond the bound keeps only its newest.
	if err := db.KeepUnmapped(context.Background(), unmapped("ses", "c", 5)); err != nil {
		t.Fatal(err)
	}
	got := allUnmapped(t, db, "", 10)
	if want := []string{"c-4", "c-3", "c-2"}; !reflect.DeepEqual(unmappedIDs(got), want) {
		t.Errorf("got %v, want %v", unmappedIDs(got), want)
	}
	if got[0].Seq != 10 {
		t.Errorf("got seq %d, want 10", got[0].Seq)
	}
}

func TestUnmappedSurvivesARestart(t *testing.T) {
	c := monitortest.New(t0)
	dir := t.TempDir()
	db := testDB(t, dir, c)
	if err := db.KeepUnmapped(context.Background(), unmapped("mailgun", "m", 2)); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, dir, c)
	got := allUnmapped(t, db, "", 10)
	if want := []string{"m-1", "m-0"}; !reflect.DeepEqual(unmappedIDs(got), want) {
		t.Fatalf("got %v, want %v", unmappedIDs(got), want)
	}
	// Sequence numbers go on after a restart.
	if err := db.KeepUnmapped(context.Background(), unmapped("mailgun", "n", 1)); err != nil {
		t.Fatal(err)
	}
	if got := allUnmapped(t, db, "", 1); got[0].Seq != 3 {
		t.Errorf("got seq %d, want 3", got[0].Seq)
	}
}

func TestUnmappedPagesAndSources(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	for i := range 3 {
		if err := db.KeepUnmapped(context.Background(), unmapped("mailgun", fmt.Sprint("m", i), 1)); err != nil {
			t.Fatal(err)
		}
		if err := db.KeepUnmapped(context.Background(), unmapped("ses", fmt.Sprint("s", i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := unmappedIDs(allUnmapped(t, db, "", 2)), []string{"s2-0", "m2-0", "s1-0", "m1-0", "s0-0", "m0-0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("all: got %v, want %v", got, want)
	}
	if got, want := unmappedIDs(allUnmapped(t, db, "ses", 2)), []string{"s2-0", "s1-0", "s0-0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ses: got %v, want %v", got, want)
	}
	if got := allUnmapped(t, db, "sendgrid", 2); len(got) != 0 {
		t.Errorf("sendgrid: got %v, want none", unmappedIDs(got))
	}
	if _, _, err := db.Unmapped(context.Background(), "", 2, "x"); !errors.Is(err, monitor.ErrInvalid) {
		t.Errorf("bad page token: got %v, want ErrInvalid", err)
	}
}

func TestAClosedStoreRefusesUnmapped(t *testing.T) {
	c := monitortest.New(t0)
	db, err := Open(t.TempDir(), Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.KeepUnmapped(context.Background(), unmapped("mailgun", "m", 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("got %v, want ErrClosed", err)
	}
}

func TestAFailedStoreRefusesUnmapped(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	db.fail(errors.New("disk gone"))
	if err := db.KeepUnmapped(context.Background(), unmapped("mailgun", "m", 1)); !errors.Is(err, ErrFailed) {
		t.Errorf("got %v, want ErrFailed", err)
	}
	if got := allUnmapped(t, db, "", 10); len(got) != 0 {
		t.Errorf("got %v, want none kept", unmappedIDs(got))
	}
}

func TestUnmappedKeptOnceBySourceAndID(t *testing.T) {
	db := unmappedDB(t, t.TempDir(), monitortest.New(t0), 3)
	ctx := context.Background()
	first := unmapped("mailgun", "e", 2)
	// A retry of the same post, and the same id from another source.
	for _, kept := range [][]Unmapped{first, first, unmapped("ses", "e", 1)} {
		if err := db.KeepUnmapped(ctx, kept); err != nil {
			t.Fatal(err)
		}
	}
	if got := unmappedIDs(allUnmapped(t, db, "", 10)); !reflect.DeepEqual(got, []string{"e-0", "e-1", "e-0"}) {
		t.Fatalf("got %v, want each source's events once", got)
	}
	// Trimmed past the bound, an event is forgotten: kept again, it is new.
	if err := db.KeepUnmapped(ctx, unmapped("mailgun", "f", 1)); err != nil {
		t.Fatal(err)
	}
	if err := db.KeepUnmapped(ctx, first[:1]); err != nil {
		t.Fatal(err)
	}
	if got := unmappedIDs(allUnmapped(t, db, "", 10)); !reflect.DeepEqual(got, []string{"e-0", "f-0", "e-0"}) {
		t.Errorf("after trimming: got %v", got)
	}
}

func TestUnmappedFieldsAreCut(t *testing.T) {
	db := unmappedDB(t, t.TempDir(), monitortest.New(t0), 10)
	huge := strings.Repeat("x", 100_000)
	u := unmapped("sendgrid", huge, 1)
	u[0].Event.Recipient = huge
	u[0].Event.Type, u[0].Event.Bounce = monitor.EventBounce, &monitor.Bounce{Diagnostic: huge, EnhancedStatus: huge}
	for range 2 {
		if err := db.KeepUnmapped(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	got := allUnmapped(t, db, "", 10)
	if len(got) != 1 {
		t.Fatalf("got %d records, want the event once", len(got))
	}
	e := got[0].Event
	if len(e.ID) > maxUnmappedField || len(e.Recipient) > maxUnmappedField || len(e.Bounce.Diagnostic) > monitor.MaxDiagnosticLen ||
		len(e.Bounce.EnhancedStatus) > maxUnmappedField || !strings.HasPrefix(e.Recipient, "xxx") {
		t.Errorf("kept fields of %d, %d, %d, %d bytes", len(e.ID), len(e.Recipient), len(e.Bounce.Diagnostic), len(e.Bounce.EnhancedStatus))
	}
}
