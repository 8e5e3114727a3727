package store

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// What callers see of the store's sequence numbers says nothing of how
// many there are, and reads back only as what it was made for, also after
// a restart.
func TestSealedNumbersAreOpaque(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	first, second := db.Cursor(1), db.Cursor(2)
	for _, tok := range []string{first, second} {
		if strings.ContainsAny(tok, "=/+") || len(tok) != 22 {
			t.Errorf("cursor %q: want 22 URL-safe characters", tok)
		}
	}
	if common := commonPrefix(first, second); common > 4 {
		t.Errorf("the cursors of 1 and 2 share %d leading characters: %q, %q", common, first, second)
	}
	if seq, ok := db.CursorSeq(second); !ok || seq != 2 {
		t.Errorf("CursorSeq(Cursor(2)) = %d, %v", seq, ok)
	}
	// Another kind of token, a decimal number, or a cursor with one
	// character changed are not cursors.
	page := db.tokens.seal(tokenTransitionPage, 2)
	for _, bad := range []string{page, "2", "", strings.Repeat("A", 22), flip(second)} {
		if seq, ok := db.CursorSeq(bad); ok {
			t.Errorf("CursorSeq(%q) = %d, true; want it refused", bad, seq)
		}
	}
	db = reopen(t, db, dir, c)
	if seq, ok := db.CursorSeq(second); !ok || seq != 2 {
		t.Errorf("after a restart, CursorSeq(Cursor(2)) = %d, %v", seq, ok)
	}
}

// Ticket ids, transition page tokens and notification ids, which senders
// see, carry no count of the platform's tickets, transitions or
// notifications.
func TestIDsSendersSeeCountNothing(t *testing.T) {
	c := monitortest.New(t0)
	db := openWithRoute(t, t.TempDir(), c)
	ctx := context.Background()
	numbered := regexp.MustCompile(`[0-9]{3,}`)
	var ids []string
	for _, acc := range []string{"acme", "beta"} {
		ingest(t, db, events(acc, "s", monitor.EventSend, 1000, t0))
		ingest(t, db, events(acc, "b", monitor.EventBounce, 25, t0))  // warned
		ingest(t, db, events(acc, "c", monitor.EventBounce, 100, t0)) // suspended
		tk, err := db.CreateTicket(ctx, acc, "", "Removed the bought list.", monitor.Checklist{BouncedAddressesRemoved: true}, admin)
		if err != nil {
			t.Fatal(err)
		}
		if numbered.MatchString(tk.ID) || !regexp.MustCompile(`^tkt-[a-z2-7]{13}$`).MatchString(tk.ID) {
			t.Errorf("ticket id %q: want tkt- and 13 random characters", tk.ID)
		}
		ids = append(ids, tk.ID)
	}
	if ids[0] == ids[1] {
		t.Fatalf("two tickets share the id %q", ids[0])
	}
	_, next, err := db.Transitions(ctx, "acme", 1, "")
	if err != nil || next == "" {
		t.Fatalf("transitions: next %q, %v", next, err)
	}
	if _, err := strconv.ParseUint(next, 10, 64); err == nil || len(next) != 22 {
		t.Errorf("page token %q: want an opaque token", next)
	}
	due, err := db.DueNotifications(ctx, t0, 100)
	if err != nil || len(due) == 0 {
		t.Fatalf("notifications: %d, %v", len(due), err)
	}
	for _, n := range due {
		if tail := strings.TrimPrefix(n.ID, db.instance+"-"); numbered.MatchString(tail) && len(tail) < 22 {
			t.Errorf("notification id %q ends in a count", n.ID)
		}
		if _, err := db.UpdateNotification(ctx, n.ID, func(*monitor.Notification) error { return nil }); err != nil {
			t.Errorf("notification %q is not found by its id: %v", n.ID, err)
		}
	}
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// flip changes the token's middle character.
func flip(tok string) string {
	b := []byte(tok)
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	return string(b)
}
