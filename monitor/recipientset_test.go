package monitor

import (
	"math/rand/v2"
	"testing"
)

// The set agrees with a map of every recipient's last mail: exactly while
// at most limit recipients are live, and at limit when more first are.
// (From then on it may forget some: the sender is over every limit and is
// blocked at its next judgement.)
func TestRecipientSetAgreesWithAMap(t *testing.T) {
	const window, limit = 3600, 41
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 7))
		var s recipientSet
		last := map[uint32]uint32{}
		now := uint32(1_800_000_000)
		population := 10 + r.IntN(80) // some runs stay under the limit, some do not
		for range 3000 {
			now += uint32(r.IntN(40))
			h := uint32(r.IntN(population)) * 2654435761 // spread like a hash
			s.add(h, now, now-window, limit)
			last[h] = now
			want := 0
			for _, at := range last {
				if at > now-window {
					want++
				}
			}
			got := s.live(now - window)
			if want <= limit && got != want || want > limit && got != limit {
				t.Fatalf("seed %d: got %d live, want %d (limit %d)", seed, got, want, limit)
			}
			if want > limit {
				break
			}
			if len(s.slots) > 64 {
				t.Fatalf("seed %d: the table grew to %d slots for a limit of %d", seed, len(s.slots), limit)
			}
		}
	}
}
