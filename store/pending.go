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

// loadPending fills the pending set from the recipients on disk.
func (db *DB) loadPending(tx *bbolt.Tx) error {
	return tx.Bucket(bucketRecipients).ForEach(func(k, v []byte) error {
		rec, err := decodeRecipient(v)
		if err != nil {
			return fmt.Errorf("recipient %q: %w", k, err)
		}
		if rec.Pending() {
			account, recipient, _ := bytes.Cut(k, []byte{0})
			db.pending.m[db.pending.hash(string(account), string(recipient))] = 0
		}
		return nil
	})
}
