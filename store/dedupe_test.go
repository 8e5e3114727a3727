package store

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dpmon/dpmon/monitor"
)

// TestDedupeSetAgreesWithAMap runs the set and a plain map side by side
// through growth, duplicates and pruning: every key remembered is found in
// the record that holds it, and nothing forgotten is.
func TestDedupeSetAgreesWithAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	s := newDedupeSet(1)
	want := map[uint64]uint64{} // key -> record
	var keys []uint64
	seq := uint64(1<<32 - 50) // the record numbers' low 32 bits wrap on the way
	first := seq
	for step := range 300_000 {
		if step%1000 == 0 {
			seq++
		}
		key := rng.Uint64()
		if len(keys) > 0 && rng.IntN(4) == 0 {
			key = keys[rng.IntN(len(keys))] // a retry
		}
		rec, seen := want[key]
		cands := s.add(key, uint32(seq), nil)
		switch {
		case seen && !slices.Contains(cands, uint32(rec)):
			t.Fatalf("step %d: key %x of record %d not found (candidates %v)", step, key, rec, cands)
		case !seen && len(cands) > 0:
			// Another key with the same fingerprint: the log settles it.
			s.insert(key, uint32(seq))
		}
		if !seen {
			want[key] = seq
			keys = append(keys, key)
		}
		if step%50_000 == 49_999 {
			first = seq - 100
			for shard := range dedupeShards {
				s.forget(shard, first, seq+1)
			}
			for k, r := range want {
				if r < first {
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
	for shard := range dedupeShards {
		s.forget(shard, seq+1, seq+1)
	}
	if s.len() != 0 {
		t.Errorf("after forgetting everything: len %d", s.len())
	}
}

// TestDedupeFingerprintsThatMatchAreAllCandidates: keys that differ only in
// the bits the index does not keep share a slot's fingerprint; each lookup
// must name every record that may hold the key.
func TestDedupeFingerprintsThatMatchAreAllCandidates(t *testing.T) {
	s := newDedupeSet(1)
	base := uint64(0x5ead_beef) << 33
	for i := range uint64(5) {
		key := base | i<<8 | 3 // same shard (3), same top 31 bits
		cands := s.add(key, uint32(10+i), nil)
		if len(cands) != int(i) {
			t.Fatalf("key %d: %d candidates, want %d", i, len(cands), i)
		}
		if i > 0 {
			s.insert(key, uint32(10+i))
		}
	}
	got := s.add(base|99<<8|3, 20, nil)
	slices.Sort(got)
	if want := []uint32{10, 11, 12, 13, 14}; !slices.Equal(got, want) {
		t.Errorf("candidates %v, want %v", got, want)
	}
}

func TestDedupeTableSizes(t *testing.T) {
	for _, c := range []struct {
		keys    int
		stagger uint8
		want    int
	}{
		{0, 0, 1024}, {640, 0, 1024}, {641, 0, 2048}, {767, 255, 1024}, {768, 255, 2048}, {1_000_000, 0, 2 << 20}, {1_400_000, 0, 4 << 20},
	} {
		if got := tableSize(c.keys, c.stagger); got != c.want {
			t.Errorf("tableSize(%d, %d) = %d, want %d", c.keys, c.stagger, got, c.want)
		}
	}
}

// Shards fill at one pace, so they must not all double at the same count:
// moving every id of the index at once stalled ingestion.
func TestDedupeShardsGrowAtStaggeredCounts(t *testing.T) {
	s := newDedupeSet(0x5eed)
	rng := rand.New(rand.NewPCG(3, 4))
	growths := map[int]int{} // ids remembered in all -> shards that doubled at that id
	for n := 1; n <= 200_000; n++ {
		// Every shard in turn: at scale, hashes fill them that evenly.
		key := rng.Uint64()&^(dedupeShards-1) | uint64(n%dedupeShards)
		shard := &s.shards[key%dedupeShards]
		before := len(shard.slots)
		s.add(key, 1, nil)
		if len(shard.slots) != before {
			growths[n/1000]++ // per thousand ids, a few batches' worth
		}
	}
	for at, shards := range growths {
		if shards > dedupeShards/8 {
			t.Errorf("%d shards doubled within ids %d000-%d999, want at most %d", shards, at, at, dedupeShards/8)
		}
	}
}

// TestBatchKeysMatchLogKeys: an ingest's caller hashes its batch (keysOf)
// and a start hashes the events it reads from the log (keyBytes); the two
// must agree, or a retried event would be counted again after a restart.
func TestBatchKeysMatchLogKeys(t *testing.T) {
	s := newDedupeSet(0x5eed)
	events := []monitor.Event{
		{AccountID: "acct-1", ID: "evt-1"},
		{AccountID: "acct-1", ID: "evt-2"},
		{AccountID: "acct-1e", ID: "vt-2"}, // the separator keeps these apart
		{AccountID: "ünïcode", ID: ""},
	}
	keys := s.keysOf(events)
	seen := map[uint64]bool{}
	for i, e := range events {
		if want := s.keyBytes([]byte(e.AccountID), []byte(e.ID)); keys[i] != want {
			t.Errorf("event %d: keysOf gave %x, keyBytes %x", i, keys[i], want)
		}
		if seen[keys[i]] {
			t.Errorf("event %d: key %x repeats", i, keys[i])
		}
		seen[keys[i]] = true
	}
	if other := newDedupeSet(0x5eee).keysOf(events[:1]); other[0] == keys[0] {
		t.Errorf("another seed gave the same key %x", keys[0])
	}
}
