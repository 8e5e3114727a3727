package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// The outbox holds every notification, keyed by a store-wide sequence
// number. A notification is written in the transaction of the change that
// causes it, so a crash can neither lose one nor invent one; the notifier
// delivers it later, at least once. Pending ones are also indexed in
// memory, so that finding what is due does not scan what was delivered.

type notificationRecord struct {
	V           int                       `json:"v"`
	ID          string                    `json:"id"`
	Receiver    string                    `json:"receiver"`
	Kind        monitor.NotificationKind  `json:"kind"`
	AccountID   string                    `json:"account_id"`
	Transition  json.RawMessage           `json:"transition"`
	TicketID    string                    `json:"ticket_id,omitempty"`
	Recipients  []string                  `json:"recipients,omitempty"`
	CreatedAt   time.Time                 `json:"created_at"`
	State       monitor.NotificationState `json:"state"`
	Attempts    int                       `json:"attempts,omitempty"`
	NextAttempt time.Time                 `json:"next_attempt,omitzero"`
	Deadline    time.Time                 `json:"deadline"`
	LastError   string                    `json:"last_error,omitempty"`
	DeliveredAt time.Time                 `json:"delivered_at,omitzero"`
}

const notificationVersion = 1

func encodeNotification(n monitor.Notification) ([]byte, error) {
	t, err := encodeTransition(n.Transition)
	if err != nil {
		return nil, err
	}
	return json.Marshal(notificationRecord{
		V: notificationVersion, ID: n.ID, Receiver: n.Receiver, Kind: n.Kind, AccountID: n.AccountID, Transition: t,
		TicketID: n.TicketID, Recipients: n.Recipients, CreatedAt: n.CreatedAt, State: n.State, Attempts: n.Attempts,
		NextAttempt: n.NextAttempt, Deadline: n.Deadline, LastError: n.LastError, DeliveredAt: n.DeliveredAt,
	})
}

func decodeNotification(v []byte) (monitor.Notification, error) {
	var r notificationRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return monitor.Notification{}, err
	}
	if r.V != notificationVersion {
		return monitor.Notification{}, fmt.Errorf("%w: notification record version %d", errCorrupt, r.V)
	}
	t, err := decodeTransition(r.Transition)
	if err != nil {
		return monitor.Notification{}, err
	}
	return monitor.Notification{
		ID: r.ID, Receiver: r.Receiver, Kind: r.Kind, AccountID: r.AccountID, Transition: t, TicketID: r.TicketID,
		Recipients: r.Recipients, CreatedAt: r.CreatedAt, State: r.State, Attempts: r.Attempts, NextAttempt: r.NextAttempt,
		Deadline: r.Deadline, LastError: r.LastError, DeliveredAt: r.DeliveredAt,
	}, nil
}

// notificationID names a notification: the installation, then its
// sequence number sealed, since account admins read it in their emails
// (see tokens.go). Sealing is randomized, so the id is made once, stored
// with the notification and never made again from the number: only its
// sealed number is read back (notificationSeq).
func (db *DB) notificationID(seq uint64) string {
	return db.instance + "-" + db.tokens.seal(tokenNotification, seq)
}

// notificationSeq reads the sequence number back from an id; ids made
// before they were sealed end in the plain number.
func (db *DB) notificationSeq(id string) (uint64, bool) {
	tail, ok := strings.CutPrefix(id, db.instance+"-")
	if !ok {
		return 0, false
	}
	if seq, err := strconv.ParseUint(tail, 10, 64); err == nil {
		return seq, true
	}
	return db.tokens.open(tokenNotification, tail)
}

// routed turns the decided notifications into one per receiver the
// routes pick.
func (db *DB) routed(decided []monitor.Notification) []monitor.Notification {
	if db.route == nil {
		return nil
	}
	var out []monitor.Notification
	for _, base := range decided {
		out = append(out, db.route(base)...)
	}
	return out
}

func putOutbox(tx *bbolt.Tx, entries []outboxEntry) error {
	b := tx.Bucket(bucketOutbox)
	for _, e := range entries {
		if err := b.Put(seqKey(e.seq), e.value); err != nil {
			return fmt.Errorf("queue notification %d: %w", e.seq, err)
		}
	}
	return nil
}

type outboxEntry struct {
	seq      uint64
	value    []byte
	receiver string
}

// loadOutbox reads the instance id (made once, so that ids stay unique
// between installations) and indexes the pending notifications.
func (db *DB) loadOutbox(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get([]byte("instance")); v != nil {
		db.instance = string(v)
	} else {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("instance id: %w", err)
		}
		db.instance = "dpmon-" + hex.EncodeToString(b)
		if err := meta.Put([]byte("instance"), []byte(db.instance)); err != nil {
			return fmt.Errorf("instance id: %w", err)
		}
	}
	outbox := tx.Bucket(bucketOutbox)
	db.nextOutboxSeq = lastSeq(outbox) + 1
	return outbox.ForEach(func(k, v []byte) error {
		n, err := decodeNotification(v)
		if err != nil {
			return fmt.Errorf("notification %x: %w", k, err)
		}
		if n.State == monitor.NotificationPending {
			db.outboxPending[decodeSeq(k)] = struct{}{}
		}
		db.outboxCounts.add(n.Receiver, n.State, 1)
		return nil
	})
}

// metaOutboxScrubbed marks a file whose outbox scrubOutbox has been
// through.
var metaOutboxScrubbed = []byte("outbox_scrubbed")

// scrubOutbox redacts, once, the URLs in the last errors of the stored
// notifications. Releases before Attempted redacted them kept receivers'
// URLs there whole, and a URL may be a secret (a Slack webhook's path) or
// hold one (a password, a token), which ListNotifications would show to
// any viewer. It runs in Open's first transaction, so the marker, which
// spares later starts a pass over the outbox, is set with the records.
func scrubOutbox(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(metaOutboxScrubbed) != nil {
		return nil
	}
	var scrubbed []outboxEntry
	err := tx.Bucket(bucketOutbox).ForEach(func(k, v []byte) error {
		// The record, not the notification: the transition stays as it
		// was stored.
		var r notificationRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("notification %x: %w", k, err)
		}
		redacted := monitor.RedactURLs(r.LastError)
		if redacted == r.LastError {
			return nil
		}
		r.LastError = redacted
		clean, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("notification %x: %w", k, err)
		}
		scrubbed = append(scrubbed, outboxEntry{seq: decodeSeq(k), value: clean})
		return nil
	})
	if err != nil {
		return fmt.Errorf("scrub the outbox's errors: %w", err)
	}
	// Put after ForEach: a bucket must not change under its cursor.
	if err := putOutbox(tx, scrubbed); err != nil {
		return fmt.Errorf("scrub the outbox's errors: %w", err)
	}
	return meta.Put(metaOutboxScrubbed, []byte{1})
}

// outboxCommitted indexes newly committed notifications and wakes the
// notifier.
func (db *DB) outboxCommitted(entries []outboxEntry) {
	db.outboxMu.Lock()
	for _, e := range entries {
		db.outboxPending[e.seq] = struct{}{}
		db.outboxCounts.add(e.receiver, monitor.NotificationPending, 1)
	}
	close(db.outboxCh)
	db.outboxCh = make(chan struct{})
	db.outboxMu.Unlock()
}

// OutboxChanged returns a channel closed when notifications are queued.
func (db *DB) OutboxChanged() <-chan struct{} {
	db.outboxMu.Lock()
	defer db.outboxMu.Unlock()
	return db.outboxCh
}

// DueNotifications returns up to limit pending notifications due at now,
// the most overdue first.
func (db *DB) DueNotifications(ctx context.Context, now time.Time, limit int) ([]monitor.Notification, error) {
	db.outboxMu.Lock()
	seqs := make([]uint64, 0, len(db.outboxPending))
	for seq := range db.outboxPending {
		seqs = append(seqs, seq)
	}
	db.outboxMu.Unlock()
	var due []monitor.Notification
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		for _, seq := range seqs {
			v := b.Get(seqKey(seq))
			if v == nil {
				continue
			}
			n, err := decodeNotification(v)
			if err != nil {
				return fmt.Errorf("notification %d: %w", seq, err)
			}
			if n.State == monitor.NotificationPending && !n.NextAttempt.After(now) {
				due = append(due, n)
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("due notifications: %w", err)
	}
	slices.SortFunc(due, func(a, b monitor.Notification) int { return a.NextAttempt.Compare(b.NextAttempt) })
	return due[:min(len(due), limit)], nil
}

// UpdateNotification changes notification id, e.g. to record a delivery
// attempt or an operator's retry, through the committer like every other
// write, and keeps the pending index in step. It returns the result.
func (db *DB) UpdateNotification(ctx context.Context, id string, change func(n *monitor.Notification) error) (monitor.Notification, error) {
	seq, ok := db.notificationSeq(id)
	if !ok {
		return monitor.Notification{}, fmt.Errorf("notification %q: %w", id, monitor.ErrNotFound)
	}
	u := &outboxChange{seq: seq, id: id, change: change}
	o := &op{apply: func(g *group) error {
		g.outboxChanges = append(g.outboxChanges, u)
		return nil
	}}
	if err := db.submit(ctx, o); err != nil {
		return monitor.Notification{}, fmt.Errorf("update notification: %w", err)
	}
	if u.err != nil {
		return monitor.Notification{}, fmt.Errorf("update notification: %w", u.err)
	}
	return u.result, nil
}

// outboxChange is a change of one stored notification. The writer carries
// it out against the record in the group's transaction and sets result, or
// err: a change refused fails its own call, not the group.
type outboxChange struct {
	seq    uint64
	id     string
	change func(n *monitor.Notification) error
	before monitor.NotificationState
	result monitor.Notification
	err    error
}

// putOutboxChanges carries out a group's notification changes.
func putOutboxChanges(tx *bbolt.Tx, changes []*outboxChange) error {
	b := tx.Bucket(bucketOutbox)
	for _, u := range changes {
		v := b.Get(seqKey(u.seq))
		if v == nil {
			u.err = fmt.Errorf("notification %q: %w", u.id, monitor.ErrNotFound)
			continue
		}
		// A record that does not decode fails its own update, not the
		// group's other writes.
		n, err := decodeNotification(v)
		if err != nil {
			u.err = fmt.Errorf("notification %q: %w", u.id, err)
			continue
		}
		if n.ID != u.id {
			u.err = fmt.Errorf("notification %q: %w", u.id, monitor.ErrNotFound)
			continue
		}
		u.before = n.State
		if u.err = u.change(&n); u.err != nil {
			continue
		}
		if v, err = encodeNotification(n); err != nil {
			return fmt.Errorf("notification %q: %w", u.id, err)
		}
		if err := b.Put(seqKey(u.seq), v); err != nil {
			return fmt.Errorf("notification %q: %w", u.id, err)
		}
		u.result = n
	}
	return nil
}

// outboxChanged brings the pending index and the counts in step with a
// group's committed notification changes.
func (db *DB) outboxChanged(changes []*outboxChange) {
	db.outboxMu.Lock()
	defer db.outboxMu.Unlock()
	for _, u := range changes {
		if u.err != nil {
			continue
		}
		n := u.result
		if n.State == monitor.NotificationPending {
			db.outboxPending[u.seq] = struct{}{}
		} else {
			delete(db.outboxPending, u.seq)
		}
		db.outboxCounts.add(n.Receiver, u.before, -1)
		db.outboxCounts.add(n.Receiver, n.State, 1)
	}
}

// NotificationFilter selects notifications; zero fields select all.
type NotificationFilter struct {
	State     monitor.NotificationState
	Receiver  string
	AccountID string
}

// Notifications returns up to limit notifications matching f, newest
// first, from before the page token on, and the next page's token.
func (db *DB) Notifications(ctx context.Context, f NotificationFilter, limit int, pageToken string) ([]monitor.Notification, string, error) {
	var out []monitor.Notification
	var next string
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		next, err = newestFirst(tx.Bucket(bucketOutbox), pageToken, limit, func(seq uint64, v []byte) (bool, bool, error) {
			n, err := decodeNotification(v)
			if err != nil {
				return false, false, fmt.Errorf("notification %d: %w", seq, err)
			}
			if (f.State != 0 && n.State != f.State) || (f.Receiver != "" && n.Receiver != f.Receiver) ||
				(f.AccountID != "" && n.AccountID != f.AccountID) {
				return false, false, ctx.Err()
			}
			out = append(out, n)
			return true, false, nil
		})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("notifications: %w", err)
	}
	return out, next, nil
}

// OutboxCounts counts the notifications by receiver and state, for
// metrics. The counts are kept as notifications are committed, updated and
// pruned, so a scrape reads no records.
func (db *DB) OutboxCounts(ctx context.Context) (map[string]map[monitor.NotificationState]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	db.outboxMu.Lock()
	defer db.outboxMu.Unlock()
	out := make(map[string]map[monitor.NotificationState]int, len(db.outboxCounts))
	for receiver, byState := range db.outboxCounts {
		out[receiver] = maps.Clone(byState)
	}
	return out, nil
}

// outboxCounts counts notifications by receiver and state; guarded by
// DB.outboxMu.
type outboxCounts map[string]map[monitor.NotificationState]int

func (c outboxCounts) add(receiver string, state monitor.NotificationState, n int) {
	if c[receiver] == nil {
		c[receiver] = make(map[monitor.NotificationState]int, 3)
	}
	c[receiver][state] += n
}
