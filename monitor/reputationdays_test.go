package monitor

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestPackedDaysCountLikeWholeDays counts random events, some of them late,
// over weeks into reputation days and into a plain map of whole days, and
// compares the window's sums after every event.
func TestPackedDaysCountLikeWholeDays(t *testing.T) {
	const days = 7
	rng := rand.New(rand.NewPCG(7, 8))
	var r reputationDays
	whole := map[int64]*[dayCells]uint32{}
	today := int64(20000)
	for i := range 20000 {
		if rng.IntN(300) == 0 {
			today += int64(1 + rng.IntN(3)) // sometimes skips days
		}
		d := today
		if rng.IntN(10) == 0 {
			d -= int64(rng.IntN(days + 2)) // late, sometimes too late
		}
		cell, n := rng.IntN(dayCells), uint32(1+rng.IntN(3))
		add := func(cells *[dayCells]uint32) { cells[cell] += n }
		if cells := r.current(d, days); cells != nil {
			add(cells)
		} else if r.inPast(d, days) {
			var delta [dayCells]uint32
			add(&delta)
			r.addPast(d, &delta)
		}
		if d > today-days {
			if whole[d] == nil {
				whole[d] = &[dayCells]uint32{}
			}
			add(whole[d])
		}
		if !validPast(r.past) {
			t.Fatalf("event %d: malformed past %v", i, r.past)
		}
		var got, want [dayCells]uint32
		r.each(today, days, func(cell int, v uint32) { got[cell] += v })
		for day, cells := range whole {
			if day > today-days && day <= today {
				for k, v := range cells {
					want[k] += v
				}
			}
		}
		if got != want {
			t.Fatalf("event %d (day %d, today %d): got %v, want %v", i, d, today, got, want)
		}
	}
	// A week's days are a fraction of whole ones.
	if max := (days - 1) * (blockHeader + dayCells); len(r.past) > max {
		t.Errorf("past holds %d words, more than %d", len(r.past), max)
	}
}

// TestPackedDaysAreSmall: two events a day to one provider keep a day in a
// few words, not the 39 cells of a whole day.
func TestPackedDaysAreSmall(t *testing.T) {
	p := DefaultPolicy()
	a := NewAccount("acme", t0, p)
	for day := range 7 {
		at := t0.Add(time.Duration(day) * oneDay)
		for range 2 {
			a.Observe(&Event{Type: EventSend, OccurredAt: at, Recipient: "r@gmail.com"}, at, &p)
		}
	}
	if want := 6 * (blockHeader + 1); len(a.rep.past) != want {
		t.Errorf("got %d words for 6 past days of sends, want %d", len(a.rep.past), want)
	}
	if got := a.Reputation(t0.Add(6*oneDay), p); got.Score != 100 {
		t.Errorf("got score %d, want 100", got.Score)
	}
}
