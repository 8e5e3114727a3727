package store

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// RecordedTransition is a committed transition with its place in the
// store-wide order, the cursor a watcher resumes from.
type RecordedTransition struct {
	Seq uint64
	monitor.Transition
}

// TransitionsAfter returns up to limit committed transitions with a
// sequence number above after, in commit order.
func (db *DB) TransitionsAfter(ctx context.Context, after uint64, limit int) ([]RecordedTransition, error) {
	var out []RecordedTransition
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketTransitions).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			t, err := decodeTransition(v)
			if err != nil {
				return fmt.Errorf("transition %x: %w", k, err)
			}
			out = append(out, RecordedTransition{Seq: decodeSeq(k), Transition: t})
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("transitions after %d: %w", after, err)
	}
	return out, nil
}

// LastTransition returns the sequence number of the newest committed
// transition, or 0: a watcher that wants only what comes next starts
// there.
func (db *DB) LastTransition() (uint64, error) {
	var last uint64
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		last = lastSeq(tx.Bucket(bucketTransitions))
		return nil
	})
	return last, err
}

// Cursor is the opaque form of a transition's sequence number that a
// watcher is given (see tokens.go).
func (db *DB) Cursor(seq uint64) string { return db.tokens.seal(tokenCursor, seq) }

// CursorSeq reads back a cursor that Cursor made.
func (db *DB) CursorSeq(cursor string) (uint64, bool) { return db.tokens.open(tokenCursor, cursor) }

// TransitionsCommitted returns a channel that is closed when the next
// commit with transitions is durable. Take it before reading, so that a
// commit between the read and the wait is not missed.
func (db *DB) TransitionsCommitted() <-chan struct{} {
	db.watchMu.Lock()
	defer db.watchMu.Unlock()
	return db.watchCh
}

// transitionsCommitted wakes the watchers after a commit with transitions.
func (db *DB) transitionsCommitted() {
	db.watchMu.Lock()
	defer db.watchMu.Unlock()
	close(db.watchCh)
	db.watchCh = make(chan struct{})
}
