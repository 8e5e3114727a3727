package store

import (
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// duplicate reports whether the log holds an event of account with id in
// one of the records cands names (the low 32 bits of their numbers, as the
// dedupe index keeps them). Only the records can say: the index keeps 31
// bits of a hash, so two ids may share them.
func (db *DB) duplicate(g *group, account, id string, cands []uint32) (bool, error) {
	key := account + "\x00" + id
	for _, c := range cands {
		seq := g.logSeq - uint64(uint32(g.logSeq)-c)
		var keys map[string]struct{}
		if seq == g.logSeq {
			keys = g.ownKeys()
		} else {
			var err error
			if keys, err = db.recordKeys(seq); err != nil {
				return false, err
			}
		}
		if _, ok := keys[key]; ok {
			return true, nil
		}
	}
	return false, nil
}

// remember notes an event of the group for ownKeys, once it has been asked.
func (g *group) remember(account, id string) {
	if g.own != nil {
		g.own[account+"\x00"+id] = struct{}{}
	}
}

// ownKeys returns the (account, id) keys of the events the group has
// logged so far.
func (g *group) ownKeys() map[string]struct{} {
	if g.own == nil {
		g.own = recordKeys(g.events, g.logN)
	}
	return g.own
}

// recordKeys returns the (account, id) keys of the events in record seq,
// which may still be on its way to the disk. A record pruned from the log
// has none: its events are older than any that is accepted.
func (db *DB) recordKeys(seq uint64) (map[string]struct{}, error) {
	if keys, ok := db.keyCache.get(seq); ok {
		return keys, nil
	}
	var keys map[string]struct{}
	if rec, ok := db.inflight.get(seq); ok {
		keys = recordKeys(rec.events, rec.n)
	} else {
		err := db.bolt.View(func(tx *bbolt.Tx) error {
			rec, err := logRecordAt(tx.Bucket(bucketEvents), seq)
			if err != nil || rec == nil {
				return err
			}
			_, n, _, events, err := decodeLogHeader(rec)
			if err != nil {
				return err
			}
			keys = recordKeys(events, n)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("log record %d: %w", seq, err)
		}
	}
	db.keyCache.put(seq, keys)
	return keys, nil
}

// recordKeys reads the (account, id) keys of n encoded events. A record
// that does not decode yields the keys read before the damage: it was
// written by this program, so that is a bug, and counting an event again
// is the lesser harm than losing it.
func recordKeys(events []byte, n int) map[string]struct{} {
	keys := make(map[string]struct{}, n)
	var s skimmedEvent
	var err error
	for range n {
		if events, err = skimEvent(events, &s); err != nil {
			break
		}
		keys[string(s.accountID)+"\x00"+string(s.id)] = struct{}{}
	}
	return keys
}

// keyCache keeps the keys of the records read last: a retried batch has
// all its events in one or two records. It belongs to the committer.
type keyCache struct {
	seqs [4]uint64
	keys [4]map[string]struct{}
	next int
}

func (c *keyCache) get(seq uint64) (map[string]struct{}, bool) {
	for i, s := range c.seqs {
		if s == seq && c.keys[i] != nil {
			return c.keys[i], true
		}
	}
	return nil, false
}

func (c *keyCache) put(seq uint64, keys map[string]struct{}) {
	if keys == nil {
		keys = map[string]struct{}{}
	}
	c.seqs[c.next], c.keys[c.next] = seq, keys
	c.next = (c.next + 1) % len(c.seqs)
}

// inflightRecords are the log records handed to the writer and not yet
// committed, which the committer may need to read before they are on disk.
type inflightRecords struct {
	mu sync.Mutex
	m  map[uint64]inflightRecord
}

// inflightRecord is the n encoded events of a record.
type inflightRecord struct {
	n      int
	events []byte
}

func (r *inflightRecords) add(seq uint64, rec inflightRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[uint64]inflightRecord)
	}
	r.m[seq] = rec
}

func (r *inflightRecords) get(seq uint64) (inflightRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.m[seq]
	return rec, ok
}

func (r *inflightRecords) remove(seq uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, seq)
}

// logSpans say which log records were accepted when, coarsely, so that a
// prune knows below which record number the dedupe index can forget: a
// span starts at a record and covers the records accepted within a minute
// of it. They belong to the committer.
type logSpans []logSpan

type logSpan struct {
	first       uint64 // the span's first record
	start, last int64  // acceptance times of its first and latest, unix seconds
	events      uint64 // the events its records hold
}

// before returns the spans that start before record seq.
func (s logSpans) before(seq uint64) logSpans {
	n := 0
	for n < len(s) && s[n].first < seq {
		n++
	}
	return s[:n]
}

// add notes that record seq, of n events, was accepted at t.
func (s *logSpans) add(seq uint64, t time.Time, n int) {
	sec := t.Unix()
	if k := len(*s); k > 0 && sec >= (*s)[k-1].start && sec < (*s)[k-1].start+60 {
		(*s)[k-1].last = max((*s)[k-1].last, sec)
		(*s)[k-1].events += uint64(n)
		return
	}
	*s = append(*s, logSpan{first: seq, start: sec, last: sec, events: uint64(n)})
}

// keep returns the first record of the newest spans that hold at most
// max events between them (the newest is kept whatever it holds), and the
// instant before which the records of the others were all accepted. A
// span whose records were accepted at notBefore or later is kept too. ok
// is false when every span is kept.
func (s logSpans) keep(max uint64, notBefore time.Time) (first uint64, droppedBefore time.Time, ok bool) {
	if len(s) == 0 {
		return 0, time.Time{}, false
	}
	j := len(s) - 1
	kept := s[j].events
	for j > 0 && kept+s[j-1].events <= max {
		j--
		kept += s[j].events
	}
	for j > 0 && s[j-1].last >= notBefore.Unix() {
		j--
	}
	if j == 0 {
		return 0, time.Time{}, false
	}
	return s[j].first, time.Unix(s[j-1].last+1, 0), true
}

// prune drops the leading spans whose records were all accepted before
// cutoff and returns the first record of those left (or 0 if none is).
func (s *logSpans) prune(cutoff time.Time) uint64 {
	sec := cutoff.Unix()
	drop := 0
	// Keep the last span: the next record number follows from it.
	for drop < len(*s)-1 && (*s)[drop].last < sec {
		drop++
	}
	*s = (*s)[drop:]
	if len(*s) == 0 {
		return 0
	}
	return (*s)[0].first
}
