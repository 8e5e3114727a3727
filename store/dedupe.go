package store

import (
	"github.com/cespare/xxhash/v2"

	"github.com/dpmon/dpmon/monitor"
)

// dedupeShards splits the remembered ids so that growing a table or
// forgetting old ids holds up ingestion for one small shard at a time: a
// shard of 100,000 ids moves in a few milliseconds.
const dedupeShards = 256

// dedupeSet is the in-memory index of the event ids in the log's horizon:
// for each logged event, 31 bits of a hash of (account, event id) and the
// log record that holds the event. It is a filter, not the record: a match
// only names the records to read to be sure, so no event is ever taken for
// a duplicate unless the log holds one with the same account and id (see
// DB.duplicate). It belongs to the committer goroutine.
//
// It is the largest structure dpmon keeps and is touched by every event, in
// random order, so each access is a cache miss. The open-addressing tables
// below cost 8 bytes a slot, 5/16 to 3/4 full: 11 to 26 bytes an id, and
// usually one miss.
type dedupeSet struct {
	// seed keys the hash; it is kept with the data, since the hashes are
	// logged with the events and read back at start.
	seed   uint64
	digest *xxhash.Digest
	shards [dedupeShards]dedupeTable
	// touched is what warm read, kept only so that it reads.
	touched uint64
}

func newDedupeSet(seed uint64) *dedupeSet {
	s := &dedupeSet{seed: seed, digest: xxhash.NewWithSeed(seed)}
	for i := range s.shards {
		s.shards[i] = newDedupeTable(0, uint8(i))
	}
	return s
}

// keyBytes is the key of an event read in place from the log; see keysOf.
func (s *dedupeSet) keyBytes(account, id []byte) uint64 {
	s.digest.ResetWithSeed(s.seed)
	_, _ = s.digest.Write(account)
	_, _ = s.digest.Write([]byte{0})
	_, _ = s.digest.Write(id)
	return s.digest.Sum64()
}

// keysOf returns the keys of events, hashes of account and event id; ids
// cannot hold control characters, so a NUL separates them unambiguously.
// It may run on any goroutine, as it reads only the seed: an ingest's
// caller hashes its batch before the committer sees it.
func (s *dedupeSet) keysOf(events []monitor.Event) []uint64 {
	d := xxhash.NewWithSeed(s.seed)
	keys := make([]uint64, len(events))
	for i := range events {
		d.ResetWithSeed(s.seed)
		_, _ = d.WriteString(events[i].AccountID)
		_, _ = d.Write([]byte{0})
		_, _ = d.WriteString(events[i].ID)
		keys[i] = d.Sum64()
	}
	return keys
}

// warm touches the slot where add will look each key up first. Every
// touch misses the cache, but none waits for another, so the processor
// overlaps them and add finds its slots cached; one by one, each event
// waited for its own miss.
func (s *dedupeSet) warm(keys []uint64) {
	// A loop of loads alone, so that many are in flight at once.
	var touched uint64
	for _, k := range keys {
		t := &s.shards[k%dedupeShards]
		touched ^= t.slots[fingerprint(k)&uint64(len(t.slots)-1)]
	}
	s.touched = touched // so that the loads are not optimised away
}

// add remembers that the record seq holds an event with key, unless the
// set holds events whose hashes match it: then it appends their records
// to cands and remembers nothing. The caller reads those records and, if
// none holds the event, calls insert.
func (s *dedupeSet) add(key uint64, seq uint32, cands []uint32) []uint32 {
	return s.shards[key%dedupeShards].add(key, seq, cands)
}

// insert remembers key in record seq, matches or not.
func (s *dedupeSet) insert(key uint64, seq uint32) {
	s.shards[key%dedupeShards].insert(key, seq)
}

// reserve makes room for n keys in all, before a load.
func (s *dedupeSet) reserve(n int) {
	for i := range s.shards {
		if s.shards[i].n == 0 {
			s.shards[i] = newDedupeTable(n/dedupeShards, uint8(i))
		}
	}
}

// forget drops from one shard the keys whose record lies outside
// [first, next): records pruned from the log.
func (s *dedupeSet) forget(shard int, first, next uint64) {
	s.shards[shard] = s.shards[shard].without(uint32(first), uint32(next-first))
}

// len is how many keys are remembered.
func (s *dedupeSet) len() int {
	n := 0
	for i := range s.shards {
		n += s.shards[i].n
	}
	return n
}

// dedupeTable is a hash set with linear probing. Each slot packs a key's
// fingerprint, its top 31 bits, and the low 32 bits of the number of the
// log record that holds the event, with the top bit set so that no slot is
// 0. A slot's place comes from the fingerprint too, so the table can grow
// and shrink without the full keys. Two keys of one shard (chosen by the
// low 8 bits) match when their fingerprints agree: about once in 2^31
// lookups, and then the log settles it.
//
// A table doubles when it is more than 5/8 full for shard 0, rising evenly
// to 3/4 for shard 255 (stagger). Hashes fill the shards at one pace, and
// with one growth point all 256 doubled within a few batches: moving every
// id of the index at once stalled ingestion for tens of milliseconds each
// time the index doubled, the slowest acknowledgements at half load.
type dedupeTable struct {
	slots   []uint64
	n       int
	stagger uint8
}

const (
	seqBits      = 32
	seqMask      = 1<<seqBits - 1
	fpBits       = 31
	fpMask       = 1<<fpBits - 1
	occupied     = 1 << 63
	minTableSize = 1 << 10
)

func newDedupeTable(keys int, stagger uint8) dedupeTable {
	return dedupeTable{slots: makeSlots(tableSize(keys, stagger)), stagger: stagger}
}

// makeSlots returns n empty slots for a table about to be filled. Past the
// smallest size a table is at least 3/8 full, which puts entries on every
// 4 KiB page of it: its memory is backed at once, not page by page (see
// prefault).
func makeSlots(n int) []uint64 {
	slots := make([]uint64, n)
	prefault(slots)
	return slots
}

// overfull reports whether keys fill size slots past the growth point of
// stagger: (5/8 + stagger/2048) of them.
func overfull(keys, size int, stagger uint8) bool {
	return keys*2048 > size*(1280+int(stagger))
}

// tableSize is the smallest table that holds keys below the growth point
// of stagger.
func tableSize(keys int, stagger uint8) int {
	size := minTableSize
	for overfull(keys, size, stagger) {
		size *= 2
	}
	return size
}

func fingerprint(key uint64) uint64 { return key >> (64 - fpBits) }

func slotFingerprint(s uint64) uint64 { return (s >> seqBits) & fpMask }

func slotSeq(s uint64) uint32 { return uint32(s) }

func (t *dedupeTable) add(key uint64, seq uint32, cands []uint32) []uint32 {
	if overfull(t.n+1, len(t.slots), t.stagger) {
		t.resize(len(t.slots) * 2)
	}
	fp := fingerprint(key)
	mask := uint64(len(t.slots) - 1)
	found := len(cands)
	for i := fp & mask; ; i = (i + 1) & mask {
		switch s := t.slots[i]; {
		case s == 0:
			if len(cands) == found {
				t.slots[i] = occupied | fp<<seqBits | uint64(seq)
				t.n++
			}
			return cands
		case slotFingerprint(s) == fp:
			cands = append(cands, slotSeq(s))
		}
	}
}

func (t *dedupeTable) insert(key uint64, seq uint32) {
	t.grow(1)
	t.place(occupied | fingerprint(key)<<seqBits | uint64(seq))
}

// grow makes room for n more keys below the growth point.
func (t *dedupeTable) grow(n int) {
	if overfull(t.n+n, len(t.slots), t.stagger) {
		t.resize(tableSize(t.n+n, t.stagger))
	}
}

// place puts slot value s in the first free slot of its probe.
func (t *dedupeTable) place(s uint64) {
	mask := uint64(len(t.slots) - 1)
	for i := slotFingerprint(s) & mask; ; i = (i + 1) & mask {
		if t.slots[i] == 0 {
			t.slots[i] = s
			t.n++
			return
		}
	}
}

// without returns the table without the entries whose record is not in
// the span of records [first, first+span), compared modulo 2^32, sized for
// what is left.
func (t dedupeTable) without(first, span uint32) dedupeTable {
	keep := make([]uint64, 0, t.n)
	for _, s := range t.slots {
		if s != 0 && slotSeq(s)-first < span {
			keep = append(keep, s)
		}
	}
	out := newDedupeTable(len(keep), t.stagger)
	for _, s := range keep {
		out.place(s)
	}
	return out
}

// resize moves the entries into size slots.
func (t *dedupeTable) resize(size int) {
	old := t.slots
	t.slots, t.n = makeSlots(size), 0
	for _, s := range old {
		if s != 0 {
			t.place(s)
		}
	}
}
