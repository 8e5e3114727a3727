package store

import "hash/maphash"

// dedupeShards splits the remembered ids so that growing a table or
// forgetting old ids holds up ingestion for one small shard at a time: a
// shard of 100,000 ids moves in a few milliseconds.
const dedupeShards = 256

// dedupeSet remembers a 64-bit hash of (account, event id) for every event
// of the dedupe horizon, with the hour the event occurred. It belongs to the
// committer goroutine.
//
// It is the largest structure dpmon keeps and is touched by every event, in
// random order, so each access is a cache miss. A Go map costs about 40
// bytes and two misses per key here; the open-addressing tables below cost
// 11 to 21 bytes (8 a slot, 3/8 to 3/4 full) and usually one miss.
type dedupeSet struct {
	hash   maphash.Hash
	shards [dedupeShards]dedupeTable
}

func newDedupeSet() *dedupeSet {
	s := &dedupeSet{}
	s.hash.SetSeed(maphash.MakeSeed())
	for i := range s.shards {
		s.shards[i] = newDedupeTable(0)
	}
	return s
}

// add remembers key and reports whether it was new. The shard is chosen by
// the key's low bits, the place in the shard by its high bits.
func (s *dedupeSet) add(key uint64, hour uint32) bool {
	return s.shards[key%dedupeShards].add(key, hour)
}

// reserve makes room for n keys in all, before a replay.
func (s *dedupeSet) reserve(n int) {
	for i := range s.shards {
		if s.shards[i].n == 0 {
			s.shards[i] = newDedupeTable(n / dedupeShards)
		}
	}
}

// forget drops from one shard the keys of events that occurred before the
// hour oldest.
func (s *dedupeSet) forget(shard int, oldest uint32) {
	s.shards[shard] = s.shards[shard].without(oldest)
}

// len is how many keys are remembered.
func (s *dedupeSet) len() int {
	n := 0
	for i := range s.shards {
		n += s.shards[i].n
	}
	return n
}

// key hashes an account and an event id; ids cannot hold control
// characters, so a NUL separates them unambiguously.
func (s *dedupeSet) key(account, id string) uint64 {
	s.hash.Reset()
	s.hash.WriteString(account)
	s.hash.WriteByte(0)
	s.hash.WriteString(id)
	return s.hash.Sum64()
}

// keyBytes is key for fields read in place from the log.
func (s *dedupeSet) keyBytes(account, id []byte) uint64 {
	s.hash.Reset()
	s.hash.Write(account)
	s.hash.WriteByte(0)
	s.hash.Write(id)
	return s.hash.Sum64()
}

// dedupeTable is a hash set with linear probing. Each slot packs a key's
// fingerprint, its top 47 bits, and the hour its event occurred modulo 2^16
// (7 years: far more than any horizon), with the top bit set so that no slot
// is 0. A slot's place comes from the fingerprint too, so the table can grow
// and shrink without the full keys. Within a shard (chosen by a key's low
// bits) two different keys are taken for one only if they agree on 55 of
// their 64 bits (8 of the shard, 47 of the fingerprint) and meet on a
// probe: less than once in 10^16 comparisons.
type dedupeTable struct {
	slots []uint64
	n     int
}

const (
	hourBits     = 16
	hourMask     = 1<<hourBits - 1
	fpBits       = 47
	fpMask       = 1<<fpBits - 1
	occupied     = 1 << 63
	minTableSize = 1 << 10
)

func newDedupeTable(keys int) dedupeTable {
	return dedupeTable{slots: make([]uint64, tableSize(keys))}
}

// tableSize is the power of two that holds keys at most 3/4 full.
func tableSize(keys int) int {
	size := minTableSize
	for size*3/4 < keys {
		size *= 2
	}
	return size
}

func fingerprint(key uint64) uint64 { return key >> (64 - fpBits) }

func slotFingerprint(s uint64) uint64 { return (s >> hourBits) & fpMask }

// add inserts key and reports whether it was new.
func (t *dedupeTable) add(key uint64, hour uint32) bool {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(len(t.slots)*2, 0, false)
	}
	fp := fingerprint(key)
	mask := uint64(len(t.slots) - 1)
	for i := fp & mask; ; i = (i + 1) & mask {
		switch s := t.slots[i]; {
		case s == 0:
			t.slots[i] = occupied | fp<<hourBits | uint64(hour&hourMask)
			t.n++
			return true
		case slotFingerprint(s) == fp:
			return false
		}
	}
}

// without returns the table without the entries whose hour is before
// oldest (compared modulo 2^16), sized for what is left.
func (t dedupeTable) without(oldest uint32) dedupeTable {
	keep := 0
	for _, s := range t.slots {
		if s != 0 && !hourBefore(s, oldest) {
			keep++
		}
	}
	t.resize(tableSize(keep), oldest, true)
	return t
}

// resize moves the entries into size slots, leaving out those before
// oldest when filter is set.
func (t *dedupeTable) resize(size int, oldest uint32, filter bool) {
	old := t.slots
	t.slots, t.n = make([]uint64, size), 0
	mask := uint64(size - 1)
	for _, s := range old {
		if s == 0 || (filter && hourBefore(s, oldest)) {
			continue
		}
		for i := slotFingerprint(s) & mask; ; i = (i + 1) & mask {
			if t.slots[i] == 0 {
				t.slots[i] = s
				t.n++
				break
			}
		}
	}
}

// hourBefore reports whether slot s holds an hour before oldest, modulo 2^16.
func hourBefore(s uint64, oldest uint32) bool {
	return (uint32(s)-oldest)&hourMask >= 1<<(hourBits-1)
}
