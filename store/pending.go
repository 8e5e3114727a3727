package store

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"sync"

	"go.etcd.io/bbolt"
)

// pendingSet remembers which recipients a delivery could change (see
// monitor.Recipient.Pending), so that ingest looks up only those
// deliveries. It may hold more than that, never less. Each entry carries
// the commit group that last added it, so that the writer, finishing an
// older group, does not remove an entry a newer group has just added.
type pendingSet struct {
	seed maphash.Seed
	mu   sync.Mutex
	m    map[uint64]uint64 // key hash -> group number
}

func newPendingSet() *pendingSet {
	return &pendingSet{seed: maphash.MakeSeed(), m: make(map[uint64]uint64)}
}

func (s *pendingSet) hash(accountID, recipientKey string) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(accountID)
	h.WriteByte(0)
	h.WriteString(recipientKey)
	return h.Sum64()
}

// clearPending drops the entries of recipients that the group left no longer
// pending, unless a later group has added them again.
func (db *DB) clearPending(g *group) {
	if len(g.cleared) == 0 {
		return
	}
	db.pending.mu.Lock()
	defer db.pending.mu.Unlock()
	for _, key := range g.cleared {
		account, recipient, _ := bytes.Cut(key, []byte{0})
		h := db.pending.hash(string(account), string(recipient))
		if seq, ok := db.pending.m[h]; ok && seq <= g.seq {
			delete(db.pending.m, h)
		}
	}
}

// The pending recipients are also kept in bucketPending, key for key with
// bucketRecipients and written in the same transactions, so that a start
// reads only their keys instead of decoding every recipient record (which
// took 0.6 s of a warm start and 4 s of a cold one at half a million
// recipients). Where most recipients are pending (a first hard bounce
// leaves one pending until a second confirms it) the keys still take
// most of that time to read.
var bucketPending = []byte("pending_recipients")

// metaPendingIndexed marks a store whose bucketPending is complete; one
// from before it is filled once, at open.
var metaPendingIndexed = []byte("pending_indexed")

// indexPending fills bucketPending from the recipient records, once.
func indexPending(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(metaPendingIndexed) != nil {
		return nil
	}
	index := tx.Bucket(bucketPending)
	err := tx.Bucket(bucketRecipients).ForEach(func(k, v []byte) error {
		rec, err := decodeRecipient(v)
		if err != nil {
			return fmt.Errorf("recipient %q: %w", k, err)
		}
		if rec.Pending() {
			return index.Put(k, nil)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index pending recipients: %w", err)
	}
	return meta.Put(metaPendingIndexed, []byte{1})
}

// putPending records, after a group's recipient changes, which of the keys
// it changed are pending, and notes in g.cleared those no longer pending.
func putPending(tx *bbolt.Tx, g *group, pending map[string]bool) error {
	index := tx.Bucket(bucketPending)
	for key, p := range pending {
		k := []byte(key)
		switch {
		case p && index.Get(k) == nil:
			if err := index.Put(k, nil); err != nil {
				return fmt.Errorf("mark recipient %q pending: %w", k, err)
			}
		case !p:
			// Suppressed, or its streak ended: deliveries no longer matter.
			if err := index.Delete(k); err != nil {
				return fmt.Errorf("unmark recipient %q pending: %w", k, err)
			}
			g.cleared = append(g.cleared, k)
		}
	}
	return nil
}

// loadPending fills the pending set from bucketPending.
func (db *DB) loadPending(tx *bbolt.Tx) error {
	return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error {
		account, recipient, _ := bytes.Cut(k, []byte{0})
		db.pending.m[db.pending.hash(string(account), string(recipient))] = 0
		return nil
	})
}
