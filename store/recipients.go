package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// Per-recipient suppression state lives in bbolt: it outlives the event log
// (a complaint suppresses for good) and can hold millions of addresses per
// account. Each change is journaled by the writer in the same transaction
// as the events that caused it, and merged into bucketRecipients later
// (see overlay.go); memory holds the records of the journal.
//
// Keys: account id, 0x00, the recipient key (see monitor.RecipientKey);
// neither may contain 0x00. History entries are keyed by a store-wide
// sequence number, and each recipient's record lists its own, oldest first.

// recipientWork is one change to one recipient, applied by the writer.
type recipientWork struct {
	key []byte // account id, 0x00, recipient key
	// Exactly one of event and manual is set.
	event  *monitor.Event
	manual *manualChange
}

// manualChange is an operator's suppression or lifting; the writer sets
// result and err, and records audit only when the change is made.
type manualChange struct {
	lift bool
	// imported, when set, is a suppression brought in from a list; added
	// counts those that changed a record.
	imported *monitor.Imported
	added    *int
	who      monitor.Actor
	note     string
	audit    monitor.AuditEntry
	result   monitor.Recipient
	err      error
}

func recipientKey(accountID, recipient string) []byte {
	k := make([]byte, 0, len(accountID)+1+len(recipient))
	k = append(k, accountID...)
	k = append(k, 0)
	return append(k, recipient...)
}

// queueRecipient records what an accepted event, one that may change its
// recipient (see monitor.Decider.Count), does to it. A delivery reaches the
// disk only when its recipient is pending: to any other it changes
// nothing. The caller holds db.pending.mu.
func (db *DB) queueRecipient(g *group, e *monitor.Event) {
	if e.Type == monitor.EventDelivery && len(db.pending.m) == 0 {
		return
	}
	key := monitor.RecipientKey(e.Recipient)
	h := db.pending.hash(e.AccountID, key)
	switch e.Type {
	case monitor.EventDelivery:
		if _, ok := db.pending.m[h]; !ok {
			return
		}
	case monitor.EventBounce:
		db.pending.m[h] = g.seq
	}
	g.recipients = append(g.recipients, recipientWork{key: recipientKey(e.AccountID, key), event: e})
}

// putRecipients applies a group's recipient changes inside its transaction,
// journals the records they change (see overlay.go), merges a chunk of the
// frozen ones, and notes in g.cleared the recipients that are no longer
// pending.
func (db *DB) putRecipients(tx *bbolt.Tx, g *group) error {
	recipients := tx.Bucket(bucketRecipients)
	// pending is each changed key's state after the whole group: a
	// delivery and a bounce to one address in one group must leave it pending.
	pending := map[string]bool{}
	for i := range g.recipients {
		w := &g.recipients[i]
		rec, err := decodeRecipient(db.storedRecipient(recipients, g, w.key))
		if err != nil {
			return fmt.Errorf("recipient %q: %w", w.key, err)
		}
		was := rec.Pending()
		var change monitor.RecipientChange
		changed := false
		if m := w.manual; m != nil && m.imported != nil {
			// One audit entry covers the whole import (see
			// ImportSuppressions); an address already suppressed is left.
			change, changed = rec.Import(g.now, *m.imported, m.who.Name)
			if changed {
				*m.added++
			}
		} else if m != nil {
			if m.lift {
				change, m.err = rec.Lift(g.now, m.who.Name, m.note)
			} else {
				change, m.err = rec.Suppress(g.now, m.who.Name, m.note)
			}
			m.result, changed = rec.Recipient, m.err == nil
			if changed {
				if err := putAuditEvent(tx, m.audit); err != nil {
					return err
				}
			}
		} else {
			change, changed = rec.Observe(w.event, db.suppression)
		}
		pending[string(w.key)] = rec.Pending()
		if !changed {
			continue
		}
		if err := markPending(tx, g, w.key, &rec, was); err != nil {
			return err
		}
		if err := appendHistory(tx, &rec, change, db.suppression.HistoryLimit); err != nil {
			return err
		}
		if g.recipientRecords == nil {
			g.recipientRecords = make(map[string][]byte)
		}
		g.recipientRecords[string(w.key)] = encodeRecipient(rec)
	}
	clearedKeys(g, pending)
	if err := db.journalRecipients(tx, g); err != nil {
		return err
	}
	return db.mergeRecipients(tx, g)
}

// appendHistory adds a change to a recipient's history and drops the
// oldest entries beyond limit. Entries are keyed by a store-wide sequence,
// so that appending is sequential like the event log, and the recipient's
// record lists its own; a key per recipient would put every bounce's
// history entry on a random page of its own.
func appendHistory(tx *bbolt.Tx, rec *recipientRecord, c monitor.RecipientChange, limit int) error {
	history := tx.Bucket(bucketRecipientHistory)
	seq, err := history.NextSequence()
	if err != nil {
		return fmt.Errorf("recipient history sequence: %w", err)
	}
	if err := history.Put(seqKey(seq), encodeChange(c)); err != nil {
		return fmt.Errorf("append recipient history: %w", err)
	}
	rec.history = append(rec.history, seq)
	for limit > 0 && len(rec.history) > limit {
		if err := history.Delete(seqKey(rec.history[0])); err != nil {
			return fmt.Errorf("trim recipient history: %w", err)
		}
		rec.history = rec.history[1:]
	}
	return nil
}

// CheckRecipients returns the state of each recipient key of accountID, in
// order; a key never seen is a zero Recipient (active).
//
// The overlay is read before the tree: the newest published record of a
// key missing from it is then in the tree by the time the read transaction
// begins, where only a newer published one can replace it (see
// overlay.go). A commit's records are published just after its
// transaction; a read in between sees the state before it.
func (db *DB) CheckRecipients(ctx context.Context, accountID string, keys []string) ([]monitor.Recipient, error) {
	out := make([]monitor.Recipient, len(keys))
	records := make([][]byte, len(keys))
	decode := func(i int, v []byte) error {
		rec, err := decodeRecipient(v)
		if err != nil {
			return fmt.Errorf("recipient %q: %w", keys[i], err)
		}
		out[i] = rec.Recipient
		return nil
	}
	found := db.overlay.lookup(accountID, keys, records)
	for i, v := range records {
		if v != nil {
			if err := decode(i, v); err != nil {
				return nil, fmt.Errorf("check recipients of %s: %w", accountID, err)
			}
		}
	}
	if found == len(keys) {
		return out, nil
	}
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRecipients)
		key := make([]byte, 0, len(accountID)+64)
		key = append(append(key, accountID...), 0)
		prefix := len(key)
		for i, k := range keys {
			if i%256 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if records[i] != nil {
				continue
			}
			key = append(key[:prefix], k...)
			if err := decode(i, b.Get(key)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("check recipients of %s: %w", accountID, err)
	}
	return out, nil
}

// RecipientHistory returns a recipient's state and its history, oldest
// first, or monitor.ErrNotFound when dpmon has no record of it.
func (db *DB) RecipientHistory(ctx context.Context, accountID, key string) (monitor.Recipient, []monitor.RecipientChange, error) {
	// The record read may list history entries that a change committed
	// just before the read transaction began, and not yet published, has
	// trimmed: read both again once the writer has had a moment to
	// publish it.
	for try := 1; ; try++ {
		r, history, err := db.recipientHistory(ctx, accountID, key)
		if errors.Is(err, errHistoryMoved) && try < 3 {
			time.Sleep(time.Duration(try) * time.Millisecond)
			continue
		}
		if err != nil {
			return monitor.Recipient{}, nil, fmt.Errorf("recipient %s of %s: %w", key, accountID, err)
		}
		return r, history, nil
	}
}

// errHistoryMoved says that a recipient record lists a history entry the
// tree does not have.
var errHistoryMoved = fmt.Errorf("%w: a history entry of the recipient is missing", errCorrupt)

func (db *DB) recipientHistory(ctx context.Context, accountID, key string) (monitor.Recipient, []monitor.RecipientChange, error) {
	overlaid := make([][]byte, 1)
	db.overlay.lookup(accountID, []string{key}, overlaid)
	var r monitor.Recipient
	var history []monitor.RecipientChange
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		v := overlaid[0]
		if v == nil {
			v = tx.Bucket(bucketRecipients).Get(recipientKey(accountID, key))
		}
		if v == nil {
			return fmt.Errorf("%w: no record of recipient %s for account %s", monitor.ErrNotFound, key, accountID)
		}
		rec, err := decodeRecipient(v)
		if err != nil {
			return err
		}
		r = rec.Recipient
		history = make([]monitor.RecipientChange, 0, len(rec.history))
		b := tx.Bucket(bucketRecipientHistory)
		for _, seq := range rec.history {
			v := b.Get(seqKey(seq))
			if v == nil {
				return fmt.Errorf("%w (entry %d)", errHistoryMoved, seq)
			}
			change, err := decodeChange(v)
			if err != nil {
				return fmt.Errorf("history entry %d: %w", seq, err)
			}
			history = append(history, change)
		}
		return ctx.Err()
	})
	return r, history, err
}

// SuppressionFilter selects suppressions; zero fields select all.
type SuppressionFilter struct {
	Status monitor.RecipientStatus
	Reason monitor.SuppressionReason
}

func (f SuppressionFilter) match(r monitor.Recipient) bool {
	return r.Status != monitor.RecipientActive &&
		(f.Status == 0 || r.Status == f.Status) && (f.Reason == 0 || r.Reason == f.Reason)
}

// Suppression is one recipient that may not be mailed.
type Suppression struct {
	Key   string // the recipient key
	State monitor.Recipient
}

// maxScan bounds the records one Suppressions call reads, so that a
// selective filter over millions of addresses does not hold a read
// transaction (and with it bbolt's remapping) for long; the caller gets a
// page token to go on from.
const maxScan = 100_000

// Suppressions returns up to limit recipients of accountID that are
// blocked or suppressed at now and match f, in key order after the key
// after, and the key to continue from ("" at the end).
func (db *DB) Suppressions(ctx context.Context, accountID string, f SuppressionFilter, after string, limit int, now time.Time) ([]Suppression, string, error) {
	var out []Suppression
	next := ""
	// The overlay first, as in CheckRecipients; its records replace the
	// tree's.
	overlaid := db.overlay.after(accountID, after)
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		prefix := recipientKey(accountID, "")
		c := tx.Bucket(bucketRecipients).Cursor()
		start := recipientKey(accountID, after)
		k, v := c.Seek(start)
		if after != "" && bytes.Equal(k, start) {
			k, v = c.Next()
		}
		last := "" // the last key read: the next page starts after it
		for scanned := 0; ; scanned++ {
			inTree := k != nil && bytes.HasPrefix(k, prefix)
			var key string
			var record []byte
			switch {
			case len(overlaid) > 0 && (!inTree || overlaid[0].key <= string(k[len(prefix):])):
				key, record = overlaid[0].key, overlaid[0].record
				if inTree && key == string(k[len(prefix):]) {
					k, v = c.Next()
				}
				overlaid = overlaid[1:]
			case inTree:
				key, record = string(k[len(prefix):]), v
				k, v = c.Next()
			default:
				return ctx.Err()
			}
			if len(out) == limit || scanned == maxScan {
				next = last
				return nil
			}
			last = key
			rec, err := decodeRecipient(record)
			if err != nil {
				return fmt.Errorf("recipient %q: %w", key, err)
			}
			if r := rec.At(now); f.match(r) {
				out = append(out, Suppression{Key: key, State: r})
			}
		}
	})
	if err != nil {
		return nil, "", fmt.Errorf("suppressions of %s: %w", accountID, err)
	}
	return out, next, nil
}

// SuppressRecipient suppresses a recipient of accountID by an operator's
// hand; monitor.ErrConflict when it already is.
func (db *DB) SuppressRecipient(ctx context.Context, accountID, key string, who monitor.Actor, note string) (monitor.Recipient, error) {
	return db.manual(ctx, accountID, key, &manualChange{who: who, note: note}, "AddSuppression")
}

// ImportSuppressions suppresses the recipients of accountID that rows
// list, in one commit, and records the import in the audit log. A row
// whose address is already suppressed for a reason as strong changes
// nothing, so that a list imported twice is imported once. It returns how
// many rows changed a record.
func (db *DB) ImportSuppressions(ctx context.Context, accountID string, rows []monitor.Imported, who monitor.Actor, source string) (added int, err error) {
	o := &op{apply: func(g *group) error {
		g.d.Audit = append(g.d.Audit, monitor.AuditEntry{At: g.now, Actor: who, Action: "ImportSuppressions", AccountID: accountID,
			Detail: fmt.Sprintf("%d rows from %s", len(rows), source)})
		for i := range rows {
			g.recipients = append(g.recipients, recipientWork{key: recipientKey(accountID, rows[i].Key),
				manual: &manualChange{imported: &rows[i], added: &added, who: who}})
		}
		return nil
	}}
	if err := db.submit(ctx, o); err != nil {
		return 0, fmt.Errorf("import suppressions of %s: %w", accountID, err)
	}
	return added, nil
}

// LiftRecipient lifts a recipient's suppression or temporary block by an
// operator's hand; monitor.ErrFailedPrecondition when there is none.
func (db *DB) LiftRecipient(ctx context.Context, accountID, key string, who monitor.Actor, note string) (monitor.Recipient, error) {
	return db.manual(ctx, accountID, key, &manualChange{lift: true, who: who, note: note}, "DeleteSuppression")
}

func (db *DB) manual(ctx context.Context, accountID, key string, m *manualChange, action string) (monitor.Recipient, error) {
	o := &op{apply: func(g *group) error {
		m.audit = monitor.AuditEntry{At: g.now, Actor: m.who, Action: action, AccountID: accountID, Detail: key + ": " + m.note}
		g.recipients = append(g.recipients, recipientWork{key: recipientKey(accountID, key), manual: m})
		return nil
	}}
	if err := db.submit(ctx, o); err != nil {
		return monitor.Recipient{}, fmt.Errorf("change recipient %s of %s: %w", key, accountID, err)
	}
	if m.err != nil {
		return monitor.Recipient{}, fmt.Errorf("change recipient %s of %s: %w", key, accountID, m.err)
	}
	return m.result, nil
}
