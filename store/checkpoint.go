package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// The tallies (what accounts counted from events: see monitor's
// AppendTallies) are saved beside the log, each with the number of the last
// log record it includes, in the same transaction as a commit group, so
// they are never ahead of or behind the log they describe. An account
// counted since its tallies were saved is dirty; the committer keeps the
// dirty accounts in the order they became so. Every CheckpointEvents events
// or CheckpointInterval, whichever comes first, the accounts dirty by then
// are due; each group saves up to checkpointChunk of them, oldest first, so
// that no commit stalls on a million accounts. A change that resets an
// account's tallies (a reinstatement, the bulk policy coming to apply)
// saves them in its own group. Each group that saves tallies also records
// where a start must replay the log from (the oldest dirty account's first
// unsaved record) and the platform's volume. A start loads the tallies and
// counts only the events of later records; the dedupe index is rebuilt
// from the hashes each record carries in its header.

var (
	bucketTallies = []byte("tallies")
	// metaCheckpoint holds the last checkpoint: the first log record a
	// start replays, the last the saved volume includes, and the volume.
	metaCheckpoint = []byte("checkpoint")
	// metaTallyShape is the policy shape the saved tallies were counted
	// under; tallies of another shape are dropped and the log replayed.
	metaTallyShape = []byte("tally_shape")
	// metaDedupeSeed keys the dedupe hashes logged with the events.
	metaDedupeSeed = []byte("dedupe_seed")
)

const tallyVersion = 1

// Checkpoint defaults: a start replays about this much of the log at most.
const (
	defaultCheckpointEvents   = 1 << 20
	defaultCheckpointInterval = 30 * time.Second
)

// checkpointChunk is how many due accounts one commit group saves.
const checkpointChunk = 4096

// dirtyAccount is an account in the order accounts became dirty: since is
// the first log record its saved tallies do not include.
type dirtyAccount struct {
	id    string
	since uint64
}

// markDirty notes that account a counted events from record since on,
// unless it is dirty already. The caller holds the lock (or is Open).
func (db *DB) markDirty(a *monitor.Account, since uint64) {
	if a.Unsaved != 0 {
		return
	}
	a.Unsaved = since
	db.dirtyOrder = append(db.dirtyOrder, dirtyAccount{a.ID, since})
}

// oldestDirty returns the first record a start must replay: the oldest
// dirty account's since, or next if none is dirty. It drops the entries of
// accounts saved (or put to rest) since they were queued.
func (db *DB) oldestDirty(next uint64) uint64 {
	for len(db.dirtyOrder) > 0 {
		e := db.dirtyOrder[0]
		if a, ok := db.accounts[e.id]; ok && a.Unsaved == e.since {
			return e.since
		}
		db.dirtyOrder[0] = dirtyAccount{}
		db.dirtyOrder = db.dirtyOrder[1:]
	}
	// Nothing is dirty: let go of the array that slid by.
	db.dirtyOrder = nil
	return next
}

// tallyShape names what the encoding of tallies depends on in a policy.
func tallyShape(p monitor.Policy) []byte {
	var names []string
	for _, pr := range p.Reputation.Providers {
		names = append(names, pr.Name)
	}
	return fmt.Appendf(nil, "ring=%d spans=%v bucket=%s bulk=%s days=%d providers=%q",
		p.RingLen(), p.Spans(), p.Bucket, p.Bulk.Window, p.Reputation.Days, names)
}

// planTallies makes the accounts dirty by the end of a group due every
// CheckpointEvents events or CheckpointInterval (step marked those it
// counted). The committer calls it with the accounts write-locked.
func (db *DB) planTallies(g *group, final bool) {
	db.sinceCheckpoint += g.logN
	if final || db.sinceCheckpoint >= db.checkpointEvents || g.now.Sub(db.lastCheckpoint) >= db.checkpointInterval {
		db.checkpointDue = g.logSeq + 1
		db.sinceCheckpoint, db.lastCheckpoint = 0, g.now
	}
	g.saveAllTallies = final
}

// encodeTallies encodes the tallies g saves: those of the accounts it
// reset, and of up to checkpointChunk due accounts (every dirty one when
// the store closes).
func (db *DB) encodeTallies(g *group) error {
	// The last record the tallies include: the group's own, if it has one.
	seq := g.logSeq
	if g.logN == 0 {
		seq--
	}
	// The accounts saved are marked clean after, under the lock: readers
	// copy accounts whole.
	var saved []*monitor.Account
	save := func(id string) {
		if a, ok := db.accounts[id]; ok {
			if g.tallies == nil {
				g.tallies = make(map[string][]byte)
			}
			v := binary.AppendUvarint([]byte{tallyVersion}, seq)
			g.tallies[id] = a.AppendTallies(v)
			saved = append(saved, a)
		}
	}
	for id := range g.tallied {
		save(id)
	}
	for n := 0; g.saveAllTallies || n < checkpointChunk; n++ {
		since := db.oldestDirty(0)
		if since == 0 || (since >= db.checkpointDue && !g.saveAllTallies) {
			break
		}
		// An account queued twice under one record (groups without events
		// share one) is saved once.
		if id := db.dirtyOrder[0].id; g.tallies[id] == nil {
			save(id)
		}
		db.dirtyOrder[0] = dirtyAccount{}
		db.dirtyOrder = db.dirtyOrder[1:]
	}
	if len(saved) > 0 {
		db.mu.Lock()
		for _, a := range saved {
			a.Unsaved = 0
		}
		db.mu.Unlock()
	}
	if g.tallies == nil && !g.saveAllTallies {
		return nil
	}
	cp := binary.AppendUvarint([]byte{tallyVersion}, db.oldestDirty(seq+1))
	cp = binary.AppendUvarint(cp, seq)
	cp, err := db.volume.AppendBinary(cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	g.checkpoint = cp
	return nil
}

// putTallies writes a group's tallies, in key order (bbolt inserts each key
// into a sorted node: random order costs a move of the node's tail per key,
// quadratic in a large first checkpoint), and its checkpoint record.
func putTallies(tx *bbolt.Tx, g *group) error {
	if len(g.tallies) == 0 && g.checkpoint == nil {
		return nil
	}
	b := tx.Bucket(bucketTallies)
	for _, id := range slices.Sorted(maps.Keys(g.tallies)) {
		if err := b.Put([]byte(id), g.tallies[id]); err != nil {
			return fmt.Errorf("save tallies of %s: %w", id, err)
		}
	}
	if g.checkpoint != nil {
		if err := tx.Bucket(bucketMeta).Put(metaCheckpoint, g.checkpoint); err != nil {
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
// record numbers each includes, and the checkpoint: the first record to
// replay and the last the volume includes. Tallies that do not decode are
// dropped, with the reason in db.dropped: the whole log is counted again.
func (db *DB) restoreTallies(tx *bbolt.Tx) (cp checkpoint, included map[string]uint64, err error) {
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
			cp, err = decodeCheckpoint(v, &db.volume)
		}
	}
	if err != nil {
		// Count from the log instead: slower, never wrong.
		db.accounts = make(map[string]*monitor.Account)
		db.volume = monitor.Volume{}
		if lerr := db.loadAccounts(tx, make(map[monitor.Phase]int)); lerr != nil {
			return checkpoint{}, nil, lerr
		}
		db.dropped = err
		return checkpoint{}, nil, nil
	}
	return cp, included, nil
}

// checkpoint says where a start replays the log from: the first record
// some account's saved tallies do not include, and the last record the
// saved volume includes. The zero checkpoint replays everything.
type checkpoint struct {
	replayFrom, volume uint64
}

func decodeCheckpoint(v []byte, volume *monitor.Volume) (checkpoint, error) {
	d := decoder{buf: v}
	if d.byte() != tallyVersion {
		return checkpoint{}, fmt.Errorf("checkpoint: %w", errCorrupt)
	}
	cp := checkpoint{replayFrom: d.uvarint(), volume: d.uvarint()}
	if d.err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint: %w", errCorrupt)
	}
	if err := volume.UnmarshalBinary(d.buf); err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	return cp, nil
}

// replayLog reads the log at a start: the dedupe hashes of the records the
// index file does not cover (every record's, without the file) into the
// index, and the events of records later than an account's tallies into
// its counts. It returns how many events it counted and how many ids it
// indexed.
func (db *DB) replayLog(tx *bbolt.Tx, now time.Time, cp checkpoint, included map[string]uint64, file *indexFromFile) (counted, ids int, err error) {
	events := tx.Bucket(bucketEvents)
	r := &replay{db: db, tx: tx, cp: cp, included: included, file: file, horizon: now.Add(-db.limits.DedupeHorizon).UnixNano()}
	// The records before indexFrom are in the index already; those before
	// cp.replayFrom are counted in the saved tallies.
	indexFrom := uint64(0)
	if file.loaded {
		indexFrom = file.first
	}
	if !file.whole {
		total, err := db.readSpans(events, indexFrom)
		if err != nil {
			return 0, 0, err
		}
		if !file.loaded {
			// Size the index once from the headers instead of letting
			// it grow (and rehash) through tens of millions of inserts.
			db.seen.reserve(total)
		}
		r.idx = newIndexLoader(db.seen)
	}
	lc := newLogCursor(events)
	lc.seek(min(indexFrom, cp.replayFrom))
	for {
		what := readWhole
		if lc.k != nil && len(lc.k) >= 8 && decodeSeq(lc.k[:8]) < cp.replayFrom {
			what = readHashes // only to index
		}
		seq, v, ok, err := lc.next(what)
		if err != nil || !ok {
			if err == nil && r.idx != nil {
				r.idx.flush()
			}
			return r.counted, r.ids, err
		}
		if err := r.record(seq, v); err != nil {
			return r.counted, r.ids, fmt.Errorf("log record %d: %w", seq, err)
		}
	}
}

// readSpans records when each log record from record from on was accepted
// and returns how many events they hold.
func (db *DB) readSpans(events *bbolt.Bucket, from uint64) (total int, err error) {
	lc := newLogCursor(events)
	lc.seek(from)
	for {
		seq, head, ok, err := lc.next(readHeader)
		if err != nil || !ok {
			return total, err
		}
		acceptedAt, n, _, err := decodeLogStart(head)
		if err != nil {
			return 0, fmt.Errorf("log record %d: %w", seq, err)
		}
		db.spans.add(seq, acceptedAt, n)
		total += n
	}
}

// replay is a start's pass over the log (see replayLog).
type replay struct {
	db       *DB
	tx       *bbolt.Tx
	cp       checkpoint
	included map[string]uint64 // the last record each account's tallies include
	file     *indexFromFile    // what the index file brought
	idx      *indexLoader      // fills the dedupe index, unless the file brought it all
	horizon  int64             // events that occurred before it count no more
	s        skimmedEvent
	counted  int
	ids      int
}

// record indexes and counts the events of record seq. Unless the record
// is one to count (seq >= r.cp.replayFrom), v may hold only its header and
// hashes.
func (r *replay) record(seq uint64, v []byte) error {
	db := r.db
	acceptedAt, n, hashes, rest, err := decodeLogHeader(v)
	if err != nil {
		return err
	}
	if hashes != nil {
		if r.idx != nil {
			for i := range n {
				r.index(binary.LittleEndian.Uint64(hashes[8*i:]), seq)
			}
		}
		if seq < r.cp.replayFrom {
			return nil
		}
	}
	s := &r.s
	for range n {
		if rest, err = skimEvent(rest, s); err != nil {
			return err
		}
		if hashes == nil && r.idx != nil {
			r.index(db.seen.keyBytes(s.accountID, s.id), seq)
		}
		if seq < r.cp.replayFrom || s.event.OccurredAt.UnixNano() < r.horizon {
			continue
		}
		if s.event.Type == monitor.EventSend && seq > r.cp.volume {
			db.volume.Add(acceptedAt, 1, db.policy.Bulk)
		}
		if seq <= r.included[string(s.accountID)] {
			continue
		}
		a, ok := db.accounts[string(s.accountID)]
		if !ok {
			if a, err = db.replayAccount(r.tx, s.accountID, acceptedAt); err != nil {
				return err
			}
		}
		a.Observe(&s.event, acceptedAt, &db.policy)
		db.markDirty(a, seq)
		r.counted++
	}
	return nil
}

// index adds the id key of record seq to the index, unless the index file
// brought it.
func (r *replay) index(key, seq uint64) {
	if !r.file.covers(key, seq) {
		r.idx.add(key, uint32(seq))
		r.ids++
	}
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
const indexChunk = 1 << 20

func newIndexLoader(set *dedupeSet) *indexLoader {
	l := &indexLoader{set: set}
	for i := range l.pending {
		// A shard's share and some, so that the buffers rarely grow.
		l.pending[i] = make([]indexEntry, 0, indexChunk/dedupeShards*5/4)
	}
	return l
}

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
				t := &l.set.shards[sh]
				t.grow(len(l.pending[sh]))
				for _, e := range l.pending[sh] {
					t.place(occupied | fingerprint(e.key)<<seqBits | uint64(e.seq))
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
