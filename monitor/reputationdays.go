package monitor

import (
	"math/bits"
	"time"
)

// reputationDays counts an account's events per day over the reputation
// window: the signals, and the rates' counts by provider. It outlives a
// reinstatement: reputation is what receivers remember.
//
// Every accepted event adds to today's cells, so those are kept in the
// account itself, next to its windows: a separate array costs a cache miss
// per event, a fifth of ingestion when events spread over many accounts.
//
// The days before are written once, when today rolls into them, and most
// of their cells are zero: an account mails a provider or two a day and
// few events are signals. So they are packed, keeping only the days that
// counted something and of those only the cells that are not zero: about
// 20 bytes a day for a typical account instead of 152.
type reputationDays struct {
	// head is today's absolute day number, 0 before the first event; 32
	// bits, as the cells are (with them it takes 156 bytes, 160 with the
	// padding to the slice after).
	head  int32
	today [dayCells]uint32
	// past are the days before today within the window that counted
	// anything, oldest first, each a block: its day number, the mask of its
	// cells that are not zero (two words, low first), then those cells in
	// order.
	past []uint32
}

// A day's cells: per provider ("other" last) its sends, hard bounces,
// complaints and blocks, 16 bytes that never straddle a cache line; then
// the signals, which fewer events touch.
const (
	countCells = 4
	signalBase = countCells * (maxProviders + 1)
)

const (
	cellUnsubscribes = signalBase + iota
	cellTrapHits
	cellListings
	cellOpens
	cellClicks
	cellAuthFailures
	dayCells
)

// blockHeader is the words of a past day's block before its cells.
const blockHeader = 3

const oneDay = 24 * time.Hour

// current returns today's cells if d is today, moving today forward when d
// is later; nil for an earlier day.
func (r *reputationDays) current(d int64, days int) *[dayCells]uint32 {
	switch head := int64(r.head); {
	case head == 0:
		r.head = int32(d)
	case d > head:
		r.roll(d, days)
	}
	if d == int64(r.head) {
		return &r.today
	}
	return nil
}

// inPast reports whether day d, before today, is within the window.
func (r *reputationDays) inPast(d int64, days int) bool {
	head := int64(r.head)
	return days > 1 && d < head && d > head-int64(days)
}

// roll moves today to day d: today joins the past if it counted anything,
// and the days that left the window go.
func (r *reputationDays) roll(d int64, days int) {
	oldest := d - int64(days) + 1
	keep := r.past
	for len(keep) > 0 && int64(keep[0]) < oldest {
		keep = keep[blockLen(keep):]
	}
	mask := cellMask(&r.today)
	size := len(keep)
	if mask != 0 && days > 1 && int64(r.head) >= oldest {
		size += blockHeader + bits.OnesCount64(mask)
	} else {
		mask = 0
	}
	var past []uint32
	if size > 0 {
		// Exactly as large as it must be: it is written once a day.
		past = make([]uint32, len(keep), size)
		copy(past, keep)
		if mask != 0 {
			past = appendBlock(past, int64(r.head), mask, &r.today)
		}
	}
	r.past = past
	r.today = [dayCells]uint32{}
	r.head = int32(d)
}

// addPast adds delta to the past day d, inserting the day or its cells
// when they are not there yet.
func (r *reputationDays) addPast(d int64, delta *[dayCells]uint32) {
	at := 0
	for at < len(r.past) && int64(r.past[at]) < d {
		at += blockLen(r.past[at:])
	}
	var cells [dayCells]uint32
	end := at
	if at < len(r.past) && int64(r.past[at]) == d {
		end = at + blockLen(r.past[at:])
		expand(r.past[at:end], &cells)
		if mask := blockMask(r.past[at:]); mask|cellMask(delta) == mask {
			// Only cells it has: add in place.
			for i, v := range delta {
				cells[i] += v
			}
			pack(r.past[at:end], &cells, mask)
			return
		}
	}
	for i, v := range delta {
		cells[i] += v
	}
	mask := cellMask(&cells)
	past := make([]uint32, 0, len(r.past)-(end-at)+blockHeader+bits.OnesCount64(mask))
	past = append(past, r.past[:at]...)
	past = appendBlock(past, d, mask, &cells)
	r.past = append(past, r.past[end:]...)
}

// each calls fn with every cell that is not zero, of every day of the
// window that ends with day now.
func (r *reputationDays) each(now int64, days int, fn func(cell int, v uint32)) {
	if r.head == 0 {
		return
	}
	first := now - int64(days) + 1
	for p := r.past; len(p) > 0; p = p[blockLen(p):] {
		if d := int64(p[0]); d >= first && d <= now {
			v := p[blockHeader:]
			for m := blockMask(p); m != 0; m &= m - 1 {
				fn(bits.TrailingZeros64(m), v[0])
				v = v[1:]
			}
		}
	}
	if head := int64(r.head); head >= first && head <= now {
		for k, v := range r.today {
			if v != 0 {
				fn(k, v)
			}
		}
	}
}

// cellMask has bit i set for each cell i that is not zero.
func cellMask(cells *[dayCells]uint32) uint64 {
	var m uint64
	for i, v := range cells {
		if v != 0 {
			m |= 1 << i
		}
	}
	return m
}

func blockMask(b []uint32) uint64 { return uint64(b[1]) | uint64(b[2])<<32 }

func blockLen(b []uint32) int { return blockHeader + bits.OnesCount64(blockMask(b)) }

func appendBlock(past []uint32, d int64, mask uint64, cells *[dayCells]uint32) []uint32 {
	past = append(past, uint32(d), uint32(mask), uint32(mask>>32))
	for m := mask; m != 0; m &= m - 1 {
		past = append(past, cells[bits.TrailingZeros64(m)])
	}
	return past
}

// expand adds the cells of block b to cells.
func expand(b []uint32, cells *[dayCells]uint32) {
	v := b[blockHeader:]
	for m := blockMask(b); m != 0; m &= m - 1 {
		cells[bits.TrailingZeros64(m)] += v[0]
		v = v[1:]
	}
}

// pack writes the cells of mask into block b, which has room for them.
func pack(b []uint32, cells *[dayCells]uint32, mask uint64) {
	v := b[blockHeader:]
	for m := mask; m != 0; m &= m - 1 {
		v[0] = cells[bits.TrailingZeros64(m)]
		v = v[1:]
	}
}

// validPast reports whether p is a well-formed past: blocks in day order,
// each with cells only where the mask says, none of them zero.
func validPast(p []uint32) bool {
	last := int64(-1)
	for len(p) > 0 {
		if len(p) < blockHeader {
			return false
		}
		mask := blockMask(p)
		n := blockLen(p)
		if int64(p[0]) <= last || mask == 0 || mask>>dayCells != 0 || len(p) < n {
			return false
		}
		for _, v := range p[blockHeader:n] {
			if v == 0 {
				return false
			}
		}
		last = int64(p[0])
		p = p[n:]
	}
	return true
}
