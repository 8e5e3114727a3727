package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// An account that is dormant (see monitor.Account.Dormant: nothing about it
// can change with time alone) is dropped from memory on a sweep and marked
// so in bucketDormant, in the sweep's commit; an event or a call for it
// loads it again from its record, and its commit lifts the mark. A start
// loads only the accounts without the mark. So memory follows the accounts
// active within the windows, not every account ever seen.

var bucketDormant = []byte("dormant_accounts")

// live returns the account id, loading it from disk if it is dormant; ok
// is false if the store has no such account. The committer calls it with
// the write lock held.
func (db *DB) live(g *group, id string) (a *monitor.Account, ok bool, err error) {
	if a, ok := db.accounts[id]; ok {
		return a, true, nil
	}
	if db.dormant == 0 {
		return nil, false, nil
	}
	err = db.bolt.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketDormant).Get([]byte(id)) == nil {
			return nil
		}
		a, err = db.storedAccount(tx, []byte(id))
		return err
	})
	if err != nil || a == nil {
		return nil, false, err
	}
	db.accounts[id] = a
	db.dormant--
	g.woken = append(g.woken, id)
	return a, true, nil
}

// storedAccount decodes the record of account id and its saved tallies.
// Tallies that cannot be used are left out: a dormant account's counts
// have all left their windows.
func (db *DB) storedAccount(tx *bbolt.Tx, id []byte) (*monitor.Account, error) {
	v := tx.Bucket(bucketAccounts).Get(id)
	if v == nil {
		return nil, nil
	}
	a, err := decodeAccount(v, db.policy)
	if err != nil {
		return nil, fmt.Errorf("account %q: %w", id, err)
	}
	if t := tx.Bucket(bucketTallies).Get(id); len(t) > 0 && t[0] == tallyVersion {
		if _, n := binary.Uvarint(t[1:]); n > 0 {
			_ = a.RestoreTallies(t[1+n:], db.policy)
		}
	}
	return a, nil
}

// readStored returns a copy of account id as it is on disk, for a reader
// that did not find it in memory; nil if there is no such account.
func (db *DB) readStored(id string) (*monitor.Account, error) {
	var a *monitor.Account
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		a, err = db.storedAccount(tx, []byte(id))
		return err
	})
	return a, err
}

// stored reports whether account id has a record on disk.
func (db *DB) stored(id string) bool {
	found := false
	_ = db.bolt.View(func(tx *bbolt.Tx) error {
		found = tx.Bucket(bucketAccounts).Get([]byte(id)) != nil
		return nil
	})
	return found
}

// known is how many accounts the store holds, in memory or dormant. The
// caller holds the lock.
func (db *DB) known() int { return len(db.accounts) + db.dormant }

// rest drops a dormant account from memory on a sweep, unless the group
// changed it or a change to it is not durable yet.
func (db *DB) rest(g *group, a *monitor.Account, moved bool) {
	if _, saved := g.saved[a.ID]; saved || moved || db.pendingSeq(unsettledAccount(a.ID)) != 0 || !a.Dormant(g.now, db.policy) {
		return
	}
	delete(db.accounts, a.ID)
	db.accountsGen++
	db.dormant++
	g.rested = append(g.rested, restedAccount{a.ID, a.State.Phase})
}

// putDormant marks the accounts a group put to rest and unmarks those it woke.
func putDormant(tx *bbolt.Tx, g *group) error {
	b, tallies := tx.Bucket(bucketDormant), tx.Bucket(bucketTallies)
	for _, r := range g.rested {
		id := r.id
		// The mark holds the phase, so that a start counts the accounts by
		// phase without reading the records.
		if err := b.Put([]byte(id), []byte{byte(r.phase)}); err != nil {
			return fmt.Errorf("mark account %s dormant: %w", id, err)
		}
		// Its counts have all aged out: it wakes with none.
		if err := tallies.Delete([]byte(id)); err != nil {
			return fmt.Errorf("drop the tallies of dormant account %s: %w", id, err)
		}
	}
	for _, id := range g.woken {
		if err := b.Delete([]byte(id)); err != nil {
			return fmt.Errorf("unmark dormant account %s: %w", id, err)
		}
	}
	return nil
}

// restedAccount is an account put to rest, with the phase it rests in.
type restedAccount struct {
	id    string
	phase monitor.Phase
}

// dormantNotHealthy returns the phases of the dormant accounts that are
// not healthy, by id, for the index of phases.
func (db *DB) dormantNotHealthy(tx *bbolt.Tx) map[string]monitor.Phase {
	out := map[string]monitor.Phase{}
	if db.dormant == 0 {
		return out
	}
	tx.Bucket(bucketDormant).ForEach(func(k, v []byte) error {
		if _, live := db.accounts[string(k)]; !live && len(v) == 1 && monitor.Phase(v[0]) != monitor.PhaseHealthy {
			out[string(k)] = monitor.Phase(v[0])
		}
		return nil
	})
	return out
}

// loadAccounts loads the accounts that are not dormant and counts those
// that are, by phase into dormantPhases, walking both buckets in key order
// together.
func (db *DB) loadAccounts(tx *bbolt.Tx, dormantPhases map[monitor.Phase]int) error {
	dormant := tx.Bucket(bucketDormant).Cursor()
	next, phase := dormant.First()
	db.dormant = 0
	return tx.Bucket(bucketAccounts).ForEach(func(k, v []byte) error {
		for next != nil && bytes.Compare(next, k) < 0 {
			next, phase = dormant.Next()
		}
		if next != nil && bytes.Equal(next, k) {
			db.dormant++
			if len(phase) == 1 {
				dormantPhases[monitor.Phase(phase[0])]++
			}
			return nil
		}
		a, err := decodeAccount(v, db.policy)
		if err != nil {
			return fmt.Errorf("account %q: %w", k, err)
		}
		db.accounts[a.ID] = a
		return nil
	})
}
