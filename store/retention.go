package store

import (
	"context"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// Retention says how long settled records are kept: the outbox, the
// tickets and the audit log would otherwise grow for as long as the
// service runs.
type Retention struct {
	// Notifications delivered or given up, counted from their delivery
	// (or, if never delivered, their creation).
	Notifications time.Duration
	// Tickets approved or rejected, counted from their closing.
	Tickets time.Duration
	// Audit entries, counted from the call they record.
	Audit time.Duration
}

// DefaultRetention keeps an audit entry for more than a year, as an
// auditor asks, and what the notifier and the reviewers are done with for
// as long as someone may still look into it.
func DefaultRetention() Retention {
	return Retention{Notifications: 30 * 24 * time.Hour, Tickets: 365 * 24 * time.Hour, Audit: 400 * 24 * time.Hour}
}

// Retained counts what Retain deleted.
type Retained struct {
	Notifications, Tickets, Audit int
}

// retainChunk bounds the deletions of one commit group, so that
// ingestion interleaves with a large first prune.
const retainChunk = 10_000

// Retain deletes what r no longer keeps at now.
func (db *DB) Retain(ctx context.Context, now time.Time, r Retention) (Retained, error) {
	var out Retained
	var err error
	if out.Notifications, err = db.retainNotifications(ctx, now.Add(-r.Notifications)); err != nil {
		return out, err
	}
	if out.Tickets, err = db.retainTickets(ctx, now, now.Add(-r.Tickets)); err != nil {
		return out, err
	}
	out.Audit, err = db.retainAudit(ctx, now.Add(-r.Audit))
	return out, err
}

// retainNotifications deletes the settled notifications settled before
// cutoff, a chunk per transaction, keeping the counts in step.
func (db *DB) retainNotifications(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	after := uint64(0)
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, next, err := db.retainNotificationChunk(ctx, after, cutoff)
		total += n
		if err != nil || next == 0 {
			return total, err
		}
		after = next
	}
}

// retainNotificationChunk deletes, through the committer, up to
// retainChunk notifications from the one after seq after, and returns the
// seq to go on after (0 at the end).
func (db *DB) retainNotificationChunk(ctx context.Context, after uint64, cutoff time.Time) (int, uint64, error) {
	r := &outboxRetention{after: after, cutoff: cutoff}
	o := &op{apply: func(g *group) error {
		g.retainOutbox = append(g.retainOutbox, r)
		return nil
	}}
	if err := db.submit(ctx, o); err != nil {
		return 0, 0, fmt.Errorf("prune notifications: %w", err)
	}
	return r.n, r.next, nil
}

// outboxRetention deletes the notifications settled before cutoff, of up to
// retainChunk after seq after; the writer sets n, next and deleted.
type outboxRetention struct {
	after   uint64
	cutoff  time.Time
	n       int
	next    uint64
	deleted outboxCounts
}

func (r *outboxRetention) put(tx *bbolt.Tx) error {
	r.n, r.next, r.deleted = 0, 0, make(outboxCounts)
	c := tx.Bucket(bucketOutbox).Cursor()
	k, v := c.Seek(seqKey(r.after + 1))
	for ; k != nil; k, v = c.Next() {
		if r.n == retainChunk {
			r.next = decodeSeq(k) - 1
			return nil
		}
		rec, err := decodeNotification(v)
		if err != nil {
			return fmt.Errorf("notification %x: %w", k, err)
		}
		settled := rec.DeliveredAt
		if settled.IsZero() {
			settled = rec.CreatedAt
		}
		if rec.State == monitor.NotificationPending || !settled.Before(r.cutoff) {
			continue
		}
		if err := c.Delete(); err != nil {
			return fmt.Errorf("delete notification %x: %w", k, err)
		}
		r.deleted.add(rec.Receiver, rec.State, 1)
		r.n++
	}
	return nil
}

// outboxRetained takes a committed retention's deletions off the counts.
func (db *DB) outboxRetained(r *outboxRetention) {
	db.outboxMu.Lock()
	defer db.outboxMu.Unlock()
	for receiver, byState := range r.deleted {
		for state, k := range byState {
			db.outboxCounts.add(receiver, state, -k)
		}
	}
}

// retainTickets deletes, through the committer, the tickets closed before
// cutoff.
func (db *DB) retainTickets(ctx context.Context, now, cutoff time.Time) (int, error) {
	n := 0
	o := &op{at: now, apply: func(g *group) error {
		for id, t := range db.tickets {
			if t.State != monitor.TicketOpen && t.ClosedAt.Before(cutoff) && len(g.deletedTickets) < retainChunk {
				delete(db.tickets, id)
				db.deleteTicket(g, id)
			}
		}
		n = len(g.deletedTickets)
		return nil
	}}
	if err := db.submit(ctx, o); err != nil {
		return 0, fmt.Errorf("prune tickets: %w", err)
	}
	return n, nil
}

// retainAudit deletes the audit entries recorded before cutoff. The log is
// in time order, so it stops at the first younger entry.
func (db *DB) retainAudit(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	for {
		r := &auditRetention{cutoff: cutoff}
		o := &op{apply: func(g *group) error {
			g.retainAudit = append(g.retainAudit, r)
			return nil
		}}
		if err := db.submit(ctx, o); err != nil {
			return total, fmt.Errorf("prune audit: %w", err)
		}
		total += r.n
		if !r.more {
			return total, nil
		}
	}
}

// auditRetention deletes up to retainChunk of the oldest audit entries
// made before cutoff; the writer sets n, and more when some may be left.
type auditRetention struct {
	cutoff time.Time
	n      int
	more   bool
}

func (r *auditRetention) put(tx *bbolt.Tx) error {
	r.n, r.more = 0, false
	c := tx.Bucket(bucketAudit).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if r.n == retainChunk {
			r.more = true
			return nil
		}
		e, err := decodeAudit(decodeSeq(k), v)
		if err != nil {
			return fmt.Errorf("audit event %x: %w", k, err)
		}
		if !e.At.Before(r.cutoff) {
			return nil
		}
		if err := c.Delete(); err != nil {
			return fmt.Errorf("delete audit event %x: %w", k, err)
		}
		r.n++
	}
	return nil
}
