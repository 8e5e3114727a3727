package store

import (
	"math/rand/v2"
	"testing"
)

// TestDedupeSetAgreesWithAMap runs the set and a plain map side by side
// through growth, duplicates and pruning.
func TestDedupeSetAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	s := newDedupeSet()
	want := map[uint64]uint32{}
	var keys []uint64
	hour := uint32(65500) // the hour counter wraps modulo 2^16 on the way
	for step := range 300_000 {
		if step%1000 == 0 {
			hour++
		}
		key := rng.Uint64()
		if len(keys) > 0 && rng.IntN(4) == 0 {
			key = keys[rng.IntN(len(keys))] // a retry
		}
		_, seen := want[key]
		if got := s.add(key, hour); got == seen {
			t.Fatalf("step %d: add(%x) = %v, want %v", step, key, got, !seen)
		}
		if !seen {
			want[key] = hour
			keys = append(keys, key)
		}
		if step%50_000 == 49_999 {
			oldest := hour - 100
			for shard := range dedupeShards {
				s.forget(shard, oldest)
			}
			for k, h := range want {
				if h < oldest {
					delete(want, k)
				}
			}
			keys = keys[:0]
			for k := range want {
				keys = append(keys, k)
			}
		}
		if s.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, s.len(), len(want))
		}
	}
	// Everything remembered is still a duplicate; after a full prune nothing is.
	for _, k := range keys {
		if s.add(k, hour) {
			t.Fatalf("remembered key %x taken as new", k)
		}
	}
	for shard := range dedupeShards {
		s.forget(shard, hour+1)
	}
	if s.len() != 0 {
		t.Errorf("after forgetting everything: len %d", s.len())
	}
}

func TestDedupeTableSizes(t *testing.T) {
	for keys, want := range map[int]int{0: 1024, 768: 1024, 769: 2048, 1_000_000: 2 << 20} {
		if got := tableSize(keys); got != want {
			t.Errorf("tableSize(%d) = %d, want %d", keys, got, want)
		}
	}
}
