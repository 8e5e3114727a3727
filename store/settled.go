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

// forgetSettled drops the notes of groups already durable. The committer
// calls it with the write lock held.
func (db *DB) forgetSettled() {
	durable := db.durable.Load()
	for k, seq := range db.unsettled {
		if seq <= durable {
			delete(db.unsettled, k)
		}
	}
}

// saveAccount has g write account id's record, which readers must not see
// before g is durable. The caller holds the write lock.
func (db *DB) saveAccount(g *group, id string) {
	g.saved[id] = struct{}{}
	db.unsettled[unsettledAccount(id)] = g.seq
}

// createAccount notes that g creates account id (and writes its record).
func (db *DB) createAccount(g *group, id string) {
	g.created = append(g.created, id)
	db.unsettled[unsettledNew(id)] = g.seq
	db.saveAccount(g, id)
}

// saveTicket has g write ticket id's record.
func (db *DB) saveTicket(g *group, id string) {
	g.savedTickets = append(g.savedTickets, id)
	db.unsettled[unsettledTicket(id)] = g.seq
}

// deleteTicket has g delete ticket id's record.
func (db *DB) deleteTicket(g *group, id string) {
	g.deletedTickets = append(g.deletedTickets, id)
	db.unsettled[unsettledTicket(id)] = g.seq
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
