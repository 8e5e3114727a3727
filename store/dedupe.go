package store

import "hash/maphash"

// dedupeShards splits the remembered ids so that forgetting the old ones
// holds up ingestion for one shard at a time, not for the whole set.
const dedupeShards = 64

// dedupeSet remembers a 64-bit hash of (account, event id) for every event
// of the dedupe horizon, with the hour the event occurred. A false
// duplicate needs two different ids to collide: about one in 10^11 events
// at 100 million remembered ids. It belongs to the committer goroutine.
type dedupeSet struct {
	hash   maphash.Hash
	shards [dedupeShards]map[uint64]uint32
}

func newDedupeSet() *dedupeSet {
	s := &dedupeSet{}
	s.hash.SetSeed(maphash.MakeSeed())
	for i := range s.shards {
		s.shards[i] = make(map[uint64]uint32)
	}
	return s
}

func (s *dedupeSet) shard(key uint64) map[uint64]uint32 {
	return s.shards[key%dedupeShards]
}

// add remembers key and reports whether it was new. One map assignment
// instead of a lookup and an assignment: the set is far larger than the
// caches, and each access is a miss. A duplicate's hour is overwritten,
// which at most keeps its key a little longer.
func (s *dedupeSet) add(key uint64, hour uint32) bool {
	m := s.shard(key)
	n := len(m)
	m[key] = hour
	return len(m) > n
}

// forget drops from one shard the keys of events that occurred before the
// hour oldest.
func (s *dedupeSet) forget(shard int, oldest uint32) {
	for k, hour := range s.shards[shard] {
		if hour < oldest {
			delete(s.shards[shard], k)
		}
	}
}

// len is how many keys are remembered.
func (s *dedupeSet) len() int {
	n := 0
	for _, m := range s.shards {
		n += len(m)
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
