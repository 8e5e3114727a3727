package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// The tallies (what accounts counted from events: see monitor's
// AppendTallies) are saved beside the log, each with the number of the last
// log record it includes. Every CheckpointEvents events or
// CheckpointInterval, a commit group saves the tallies of every account
// counted since the last checkpoint, with the platform's volume; a change
// that resets an account's tallies (a reinstatement, the bulk policy coming
// to apply) saves them in its own group. Both go in the same transaction
// as the group's events, so a checkpoint is never ahead of or behind the
// log it describes. A start loads the tallies and counts only the events
// of later records; the dedupe index is rebuilt from the hashes each
// record carries in its header.

var (
	bucketTallies = []byte("tallies")
	// metaCheckpoint holds the last checkpoint: its record number and the
	// platform's volume.
	metaCheckpoint = []byte("checkpoint")
	// metaTallyShape is the policy shape the saved tallies were counted
	// under; tallies of another shape are dropped and the log replayed.
	metaTallyShape = []byte("tally_shape")
	// metaDedupeSeed keys the dedupe hashes logged with the events.
	metaDedupeSeed = []byte("dedupe_seed")
)

const tallyVersion = 1

// Checkpoint defaults: a start replays at most this much of the log.
const (
	defaultCheckpointEvents   = 1 << 20
	defaultCheckpointInterval = 30 * time.Second
)

// tallyShape names what the encoding of tallies depends on in a policy.
func tallyShape(p monitor.Policy) []byte {
	var names []string
	for _, pr := range p.Reputation.Providers {
		names = append(names, pr.Name)
	}
	return fmt.Appendf(nil, "ring=%d spans=%v bucket=%s bulk=%s days=%d providers=%q",
		p.RingLen(), p.Spans(), p.Bucket, p.Bulk.Window, p.Reputation.Days, names)
}

// planTallies decides, at the end of a group, which tallies it saves. The
// committer calls it with the accounts write-locked.
func (db *DB) planTallies(g *group, final bool) {
	if !g.sweep {
		for id := range g.touched {
			db.dirty[id] = struct{}{}
		}
	}
	db.sinceCheckpoint += g.logN
	due := final || db.sinceCheckpoint >= db.checkpointEvents || g.now.Sub(db.lastCheckpoint) >= db.checkpointInterval
	if due && len(db.dirty) > 0 {
		g.checkpoint = true
		db.sinceCheckpoint, db.lastCheckpoint = 0, g.now
	}
}

// encodeTallies puts in j the tallies g saves.
func (db *DB) encodeTallies(g *group, j *job) error {
	if !g.checkpoint && len(g.tallied) == 0 {
		return nil
	}
	// The last record the tallies include: the group's own, if it has one.
	seq := g.logSeq
	if g.logN == 0 {
		seq--
	}
	j.tallies = make(map[string][]byte)
	save := func(id string) {
		if a, ok := db.accounts[id]; ok {
			v := binary.AppendUvarint([]byte{tallyVersion}, seq)
			j.tallies[id] = a.AppendTallies(v)
		}
		delete(db.dirty, id)
	}
	for id := range g.tallied {
		save(id)
	}
	if !g.checkpoint {
		return nil
	}
	for id := range db.dirty {
		save(id)
	}
	cp := binary.AppendUvarint([]byte{tallyVersion}, seq)
	cp, err := db.volume.AppendBinary(cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	j.checkpoint = cp
	return nil
}

// putTallies writes a job's tallies and checkpoint.
func putTallies(tx *bbolt.Tx, j *job) error {
	if len(j.tallies) == 0 && j.checkpoint == nil {
		return nil
	}
	b := tx.Bucket(bucketTallies)
	for id, v := range j.tallies {
		if err := b.Put([]byte(id), v); err != nil {
			return fmt.Errorf("save tallies of %s: %w", id, err)
		}
	}
	if j.checkpoint != nil {
		if err := tx.Bucket(bucketMeta).Put(metaCheckpoint, j.checkpoint); err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
	}
	return nil
}

// markTallied has g save a's tallies: a change just reset them.
func (g *group) markTallied(id string) {
	if g.tallied == nil {
		g.tallied = make(map[string]struct{})
	}
	g.tallied[id] = struct{}{}
}

// dedupeSeed returns the key of the dedupe hashes, made on first use.
func dedupeSeed(tx *bbolt.Tx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(metaDedupeSeed); len(v) == 8 {
		return binary.BigEndian.Uint64(v), nil
	}
	seed := randomUint64()
	if err := meta.Put(metaDedupeSeed, binary.BigEndian.AppendUint64(nil, seed)); err != nil {
		return 0, fmt.Errorf("save dedupe seed: %w", err)
	}
	return seed, nil
}

// resetTalliesOfAnotherShape drops the saved tallies and the checkpoint
// when the policy's shape changed since they were saved.
func resetTalliesOfAnotherShape(tx *bbolt.Tx, p monitor.Policy) error {
	meta := tx.Bucket(bucketMeta)
	shape := tallyShape(p)
	if bytes.Equal(meta.Get(metaTallyShape), shape) {
		return nil
	}
	if err := tx.DeleteBucket(bucketTallies); err != nil {
		return fmt.Errorf("drop tallies: %w", err)
	}
	if _, err := tx.CreateBucket(bucketTallies); err != nil {
		return fmt.Errorf("drop tallies: %w", err)
	}
	if err := meta.Delete(metaCheckpoint); err != nil {
		return fmt.Errorf("drop checkpoint: %w", err)
	}
	return meta.Put(metaTallyShape, shape)
}

// restoreTallies loads the saved tallies into the accounts and returns the
// record numbers each includes, and the last checkpoint's. Tallies that do
// not decode are dropped, with the reason in db.dropped: the whole log is
// counted again.
func (db *DB) restoreTallies(tx *bbolt.Tx) (checkpoint uint64, included map[string]uint64, err error) {
	meta := tx.Bucket(bucketMeta)
	included = make(map[string]uint64)
	err = tx.Bucket(bucketTallies).ForEach(func(k, v []byte) error {
		if len(v) == 0 || v[0] != tallyVersion {
			return fmt.Errorf("tallies of %q: %w", k, errCorrupt)
		}
		seq, n := binary.Uvarint(v[1:])
		if n <= 0 {
			return fmt.Errorf("tallies of %q: %w", k, errCorrupt)
		}
		a, ok := db.accounts[string(k)]
		if !ok {
			// Dormant: a replay that meets its events loads it with these.
			included[string(k)] = seq
			return nil
		}
		if err := a.RestoreTallies(v[1+n:], db.policy); err != nil {
			return err
		}
		included[a.ID] = seq
		return nil
	})
	if err == nil {
		if v := meta.Get(metaCheckpoint); v != nil {
			checkpoint, err = decodeCheckpoint(v, &db.volume)
		}
	}
	if err != nil {
		// Count from the log instead: slower, never wrong.
		db.accounts = make(map[string]*monitor.Account)
		db.volume = monitor.Volume{}
		if lerr := db.loadAccounts(tx, make(map[monitor.Phase]int)); lerr != nil {
			return 0, nil, lerr
		}
		db.dropped = err
		return 0, nil, nil
	}
	return checkpoint, included, nil
}

func decodeCheckpoint(v []byte, volume *monitor.Volume) (uint64, error) {
	if len(v) == 0 || v[0] != tallyVersion {
		return 0, fmt.Errorf("checkpoint: %w", errCorrupt)
	}
	seq, n := binary.Uvarint(v[1:])
	if n <= 0 {
		return 0, fmt.Errorf("checkpoint: %w", errCorrupt)
	}
	if err := volume.UnmarshalBinary(v[1+n:]); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	return seq, nil
}

// replayLog reads the log at a start: every record's dedupe hashes into the
// index, and the events of records later than an account's tallies into
// its counts. It returns how many events it counted and how many ids it
// indexed.
func (db *DB) replayLog(tx *bbolt.Tx, now time.Time, checkpoint uint64, included map[string]uint64) (counted, ids int, err error) {
	horizon := now.Add(-db.limits.DedupeHorizon).UnixNano()
	events := tx.Bucket(bucketEvents)
	// Size the index once from the headers instead of letting it grow
	// (and rehash) through tens of millions of inserts.
	total := 0
	if err := events.ForEach(func(k, v []byte) error {
		acceptedAt, n, _, _, err := decodeLogHeader(v)
		if err != nil {
			return fmt.Errorf("log record %x: %w", k, err)
		}
		db.spans.add(decodeSeq(k), acceptedAt)
		total += n
		return nil
	}); err != nil {
		return 0, 0, err
	}
	db.seen.reserve(total)
	idx := newIndexLoader(db.seen)
	var s skimmedEvent
	err = events.ForEach(func(k, v []byte) error {
		seq := decodeSeq(k)
		acceptedAt, n, hashes, rest, err := decodeLogHeader(v)
		if err != nil {
			return fmt.Errorf("log record %x: %w", k, err)
		}
		if hashes != nil {
			for i := range n {
				idx.add(binary.LittleEndian.Uint64(hashes[8*i:]), uint32(seq))
			}
			ids += n
			if seq <= checkpoint {
				return nil
			}
		}
		for range n {
			if rest, err = skimEvent(rest, &s); err != nil {
				return fmt.Errorf("log record %x: %w", k, err)
			}
			if hashes == nil {
				idx.add(db.seen.keyBytes(s.accountID, s.id), uint32(seq))
				ids++
			}
			if seq <= checkpoint || s.event.OccurredAt.UnixNano() < horizon {
				continue
			}
			if seq <= included[string(s.accountID)] {
				continue
			}
			a, ok := db.accounts[string(s.accountID)]
			if !ok {
				if a, err = db.replayAccount(tx, s.accountID, acceptedAt); err != nil {
					return err
				}
			}
			if s.event.Type == monitor.EventSend {
				db.volume.Add(acceptedAt, 1, db.policy.Bulk)
			}
			a.Observe(&s.event, acceptedAt, db.policy)
			db.dirty[a.ID] = struct{}{}
			counted++
		}
		return nil
	})
	idx.flush()
	return counted, ids, err
}

// replayAccount returns the account a replayed event of a missing account
// counts in: a dormant one, loaded (its mark lifted with the start), or,
// since every account record is written with its first event, a new one
// rather than lose the counts.
func (db *DB) replayAccount(tx *bbolt.Tx, id []byte, acceptedAt time.Time) (*monitor.Account, error) {
	a, err := db.storedAccount(tx, id)
	if err != nil {
		return nil, err
	}
	if a != nil && tx.Bucket(bucketDormant).Get(id) != nil {
		db.dormant--
		db.dormantPhases[a.State.Phase]--
		db.loadWoken = append(db.loadWoken, a.ID)
	}
	if a == nil {
		a = monitor.NewAccount(string(id), acceptedAt, db.policy)
	}
	db.accounts[a.ID] = a
	return a, nil
}

// indexLoader fills the dedupe index at a start. Inserting tens of
// millions of keys one by one into tables of hundreds of megabytes waits
// on memory for each; gathered by shard first, each shard's table is
// filled while it sits in the cache, and shards are filled in parallel.
type indexLoader struct {
	set     *dedupeSet
	pending [dedupeShards][]indexEntry
	n       int
}

type indexEntry struct {
	key uint64
	seq uint32
}

// indexChunk is how many keys the loader gathers before it inserts them.
const indexChunk = 1 << 22

func newIndexLoader(set *dedupeSet) *indexLoader { return &indexLoader{set: set} }

func (l *indexLoader) add(key uint64, seq uint32) {
	sh := key % dedupeShards
	l.pending[sh] = append(l.pending[sh], indexEntry{key, seq})
	if l.n++; l.n == indexChunk {
		l.flush()
	}
}

func (l *indexLoader) flush() {
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for sh := w; sh < dedupeShards; sh += workers {
				for _, e := range l.pending[sh] {
					l.set.shards[sh].insert(e.key, e.seq)
				}
				l.pending[sh] = l.pending[sh][:0]
			}
		})
	}
	wg.Wait()
	l.n = 0
}

func randomUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return binary.BigEndian.Uint64(b[:])
}
