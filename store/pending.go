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

// The pending recipients are also kept in bucketPending, written in the
// same transactions as their records, so that a start reads only their
// keys instead of decoding every recipient record (which took 0.6 s of a
// warm start and 4 s of a cold one at half a million recipients). A key
// there is the number of the log record current when the recipient became
// pending (8 bytes, big-endian), then its key in bucketRecipients; the
// record keeps that number (recipientRecord.pendingAt) to delete it. So
// new keys are appended at the end of the bucket: keyed by recipient, each
// first bounce wrote a leaf page of its own, and the writer spent a tenth
// of its time on them under dpctl bench.
var bucketPending = []byte("pending_recipients")

// metaPendingByRecord marks a store whose bucketPending is keyed as above
// and complete; one from before is filled once, at open.
var metaPendingByRecord = []byte("pending_by_record")

// pendingKey is the key of recipient key in bucketPending.
func pendingKey(at uint64, key []byte) []byte {
	return append(seqKey(at), key...)
}

// indexPending fills bucketPending from the recipient records (the
// overlay's, loaded, and the tree's), once, each key under the number its
// record says (0 in a record from before).
func (db *DB) indexPending(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(metaPendingByRecord) != nil {
		return nil
	}
	if err := tx.DeleteBucket(bucketPending); err != nil {
		return fmt.Errorf("index pending recipients: %w", err)
	}
	index, err := tx.CreateBucket(bucketPending)
	if err != nil {
		return fmt.Errorf("index pending recipients: %w", err)
	}
	add := func(k, v []byte) error {
		rec, err := decodeRecipient(v)
		if err != nil {
			return fmt.Errorf("recipient %q: %w", k, err)
		}
		if rec.Pending() {
			return index.Put(pendingKey(rec.pendingAt, k), nil)
		}
		return nil
	}
	err = tx.Bucket(bucketRecipients).ForEach(func(k, v []byte) error {
		if _, overlaid := db.overlay.newest(k); overlaid {
			return nil
		}
		return add(k, v)
	})
	if err == nil {
		err = db.overlay.each(add)
	}
	if err != nil {
		return fmt.Errorf("index pending recipients: %w", err)
	}
	return meta.Put(metaPendingByRecord, []byte{1})
}

// markPending keeps bucketPending in step with a change to the record of
// recipient key, which was pending before it or not: a recipient that
// became pending is appended, under the log record current at the group; one
// no longer pending is deleted.
func markPending(tx *bbolt.Tx, g *group, key []byte, rec *recipientRecord, was bool) error {
	index := tx.Bucket(bucketPending)
	switch is := rec.Pending(); {
	case is && !was:
		rec.pendingAt = g.logSeq
		if err := index.Put(pendingKey(rec.pendingAt, key), nil); err != nil {
			return fmt.Errorf("mark recipient %q pending: %w", key, err)
		}
	case was && !is:
		// Suppressed, or its streak ended: deliveries no longer matter.
		if err := index.Delete(pendingKey(rec.pendingAt, key)); err != nil {
			return fmt.Errorf("unmark recipient %q pending: %w", key, err)
		}
		rec.pendingAt = 0
	}
	return nil
}

// clearedKeys notes in g.cleared the keys the group left not pending.
func clearedKeys(g *group, pending map[string]bool) {
	for key, p := range pending {
		if !p {
			g.cleared = append(g.cleared, []byte(key))
		}
	}
}

// loadPending fills the pending set from bucketPending.
func (db *DB) loadPending(tx *bbolt.Tx) error {
	return tx.Bucket(bucketPending).ForEach(func(k, _ []byte) error {
		if len(k) < 8 {
			return fmt.Errorf("pending recipient %x: %w", k, errCorrupt)
		}
		account, recipient, _ := bytes.Cut(k[8:], []byte{0})
		db.pending.m[db.pending.hash(string(account), string(recipient))] = 0
		return nil
	})
}
