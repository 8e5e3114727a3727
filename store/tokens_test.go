package store

import (
	"context"
	"encoding/binary"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// The same number sealed twice gives two tokens, so that a caller cannot
// tell whether the number changed; each opens to it, also after a
// restart. A token of another kind, another store's, a made-up one or one
// with any character changed opens to nothing.
func TestSealingIsRandomizedAndAuthenticated(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	first, again := db.Cursor(2), db.Cursor(2)
	if first == again {
		t.Errorf("Cursor(2) twice gave %q both times, want two tokens", first)
	}
	for _, tok := range []string{first, again} {
		if seq, ok := db.CursorSeq(tok); !ok || seq != 2 {
			t.Errorf("CursorSeq(%q) = %d, %v; want 2, true", tok, seq, ok)
		}
	}

	bad := map[string]string{
		"a page token":         db.tokens.seal(tokenTransitionPage, 2),
		"a notification token": db.tokens.seal(tokenNotification, 2),
		"another store's":      testDB(t, t.TempDir(), c).Cursor(2),
		"a number":             "2",
		"empty":                "",
		"made up":              strings.Repeat("A", len(first)),
	}
	for i := range first {
		b := []byte(first)
		b[i] = next(b[i])
		bad["changed at "+strconv.Itoa(i)] = string(b)
	}
	for what, tok := range bad {
		if seq, ok := db.CursorSeq(tok); ok {
			t.Errorf("%s: CursorSeq(%q) = %d, true; want it refused", what, tok, seq)
		}
	}

	db = reopen(t, db, dir, c)
	if seq, ok := db.CursorSeq(first); !ok || seq != 2 {
		t.Errorf("after a restart, CursorSeq of a cursor made before = %d, %v; want 2, true", seq, ok)
	}
}

// next returns another character of the base64url alphabet than b.
func next(b byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return alphabet[(strings.IndexByte(alphabet, b)+1)%len(alphabet)]
}

// Ticket ids, transition page tokens and notification ids, which senders
// see, carry no count of the platform's tickets, transitions or
// notifications: ticket ids are random, the others sealed numbers.
func TestIDsSendersSeeCountNothing(t *testing.T) {
	c := monitortest.New(t0)
	db := openWithRoute(t, t.TempDir(), c)
	ctx := context.Background()
	ticketID := regexp.MustCompile(`^tkt-[a-z2-7]{13}$`)
	var numbers []uint64
	for _, acc := range []string{"acme", "beta"} {
		ingest(t, db, events(acc, "s", monitor.EventSend, 1000, t0))
		ingest(t, db, events(acc, "b", monitor.EventBounce, 25, t0))  // warned
		ingest(t, db, events(acc, "c", monitor.EventBounce, 100, t0)) // suspended
		tk, err := db.CreateTicket(ctx, acc, "", "Removed the bought list.", monitor.Checklist{BouncedAddressesRemoved: true}, admin)
		if err != nil {
			t.Fatal(err)
		}
		if !ticketID.MatchString(tk.ID) {
			t.Fatalf("ticket id %q: want tkt- and 13 base32 characters", tk.ID)
		}
		b, err := ticketIDEncoding.DecodeString(strings.ToUpper(strings.TrimPrefix(tk.ID, "tkt-")))
		if err != nil || len(b) != 8 {
			t.Fatalf("ticket id %q does not decode to 8 bytes: %v", tk.ID, err)
		}
		numbers = append(numbers, binary.BigEndian.Uint64(b))
	}
	// Read as base32 numbers, two tickets opened one after the other are
	// not neighbours (random ones are, once in 2^63).
	if d := numbers[1] - numbers[0]; d == 0 || d == 1 || d == ^uint64(0) {
		t.Errorf("the tickets' ids read as %d and %d: want unrelated numbers", numbers[0], numbers[1])
	}

	// A page token is a sealed page position: it opens as nothing else.
	_, page, err := db.Transitions(ctx, "acme", 1, "")
	if err != nil || page == "" {
		t.Fatalf("transitions: next %q, %v", page, err)
	}
	if _, ok := db.tokens.open(tokenTransitionPage, page); !ok {
		t.Errorf("page token %q does not open as a page token", page)
	}
	if _, ok := db.CursorSeq(page); ok {
		t.Errorf("page token %q opens as a cursor", page)
	}

	due, err := db.DueNotifications(ctx, t0, 100)
	if err != nil || len(due) == 0 {
		t.Fatalf("notifications: %d, %v", len(due), err)
	}
	for _, n := range due {
		tail, ok := strings.CutPrefix(n.ID, db.instance+"-")
		if !ok {
			t.Errorf("notification id %q does not name the installation %q", n.ID, db.instance)
		}
		if _, err := strconv.ParseUint(tail, 10, 64); err == nil {
			t.Errorf("notification id %q ends in a plain number", n.ID)
		}
		if _, ok := db.tokens.open(tokenNotification, tail); !ok {
			t.Errorf("notification id %q does not end in a sealed number", n.ID)
		}
		if _, err := db.UpdateNotification(ctx, n.ID, func(*monitor.Notification) error { return nil }); err != nil {
			t.Errorf("notification %q is not found by its id: %v", n.ID, err)
		}
	}
}
