package store

import (
	"context"
)

// What the committer changes in memory is ahead of the disk until the
// writer commits it: a crash in between takes it back. Readers must not
// show such a change (an account suspended, a ticket approved, an account
// that exists), so the committer notes, for each account and ticket whose
// record a group writes, the group's number; a reader that finds one newer
// than the last durable group waits for that commit and reads again. The
// wait is one fsync at most, and only for what changed in it: counts are
// not records, and a read of an account that only counted events does not
// wait.

// unsettledAccount, unsettledTicket and unsettledNew (an account's
// creation) key the unsettled map.
func unsettledAccount(id string) string { return "a" + id }
func unsettledTicket(id string) string  { return "t" + id }
func unsettledNew(id string) string     { return "n" + id }

// settle notes the records group g writes, and forgets the notes of groups
// already durable. The committer calls it with the write lock held.
func (db *DB) settle(g *group) {
	durable := db.durable.Load()
	for k, seq := range db.unsettled {
		if seq <= durable {
			delete(db.unsettled, k)
		}
	}
	for id := range g.saved {
		db.unsettled[unsettledAccount(id)] = g.seq
	}
	for _, id := range g.created {
		db.unsettled[unsettledNew(id)] = g.seq
	}
	for _, id := range g.savedTickets {
		db.unsettled[unsettledTicket(id)] = g.seq
	}
	for _, id := range g.deletedTickets {
		db.unsettled[unsettledTicket(id)] = g.seq
	}
}

// pendingSeq returns the group that last wrote the record of key if it is
// not durable yet, else 0. The caller holds the read lock.
func (db *DB) pendingSeq(key string) uint64 {
	if seq := db.unsettled[key]; seq > db.durable.Load() {
		return seq
	}
	return 0
}

// settledRead runs read under the read lock until all it read is durable:
// read returns the newest group that wrote a record it read (pendingSeq,
// 0 for none); settledRead then waits for that group and reads again.
func (db *DB) settledRead(ctx context.Context, read func() uint64) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		db.mu.RLock()
		need := read()
		db.mu.RUnlock()
		if need == 0 {
			return nil
		}
		if err := db.waitDurable(ctx, need); err != nil {
			return err
		}
	}
}

// waitDurable waits until group seq is committed.
func (db *DB) waitDurable(ctx context.Context, seq uint64) error {
	for {
		db.durableMu.Lock()
		ch := db.durableCh
		db.durableMu.Unlock()
		if db.durable.Load() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-db.failedCh:
			return db.Err()
		case <-db.stopped:
			if db.durable.Load() >= seq {
				return nil
			}
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// committed records that group seq is durable and wakes its readers.
func (db *DB) committedGroup(seq uint64) {
	db.durable.Store(seq)
	db.durableMu.Lock()
	defer db.durableMu.Unlock()
	close(db.durableCh)
	db.durableCh = make(chan struct{})
}
