package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// An account's tallies are what it counted from events: the windows' ring,
// the reputation days, the bulk policy's sender tracks and the latest
// second's sends. They are derived from the event log, so the log stays
// the record of what arrived; a store saves them now and then with the log
// position they include, so that a restart replays only the log's tail.
//
// The encoding is positional: it is valid only for a policy of the same
// shape (ring length, window spans, reputation days), which RestoreTallies
// checks. Numbers are varints: most cells are zero and take one byte.

// talliesVersion is the layout AppendTallies writes. Version 1 kept every
// past reputation day whole; version 2 had no cell for authentication
// failures. Tallies of another version are counted again from the log.
const talliesVersion = 3

// ErrTalliesShape is returned by RestoreTallies when the tallies were
// counted under a policy of another shape: they cannot be used, and the
// account must be counted again from the log.
var ErrTalliesShape = errors.New("tallies were counted under a policy of another shape")

// AppendTallies appends the account's tallies to buf.
func (a *Account) AppendTallies(buf []byte) []byte {
	buf = append(buf, talliesVersion)
	buf = a.ring.appendTo(buf)
	buf = a.rep.appendTo(buf)
	buf = binary.AppendVarint(buf, a.second)
	buf = binary.AppendUvarint(buf, uint64(a.secondSends))
	// Senders in a fixed order, so that equal tallies encode equally.
	var senders []string
	if a.tracks != nil {
		senders = slices.Sorted(maps.Keys(a.tracks.byKey))
	}
	buf = binary.AppendUvarint(buf, uint64(len(senders)))
	for _, s := range senders {
		buf = a.tracks.byKey[s].appendTo(buf)
	}
	return buf
}

// RestoreTallies replaces the account's tallies with those encoded in b
// under policy p. On an error the account's tallies are left empty.
func (a *Account) RestoreTallies(b []byte, p Policy) error {
	a.clearTallies(p)
	d := talliesDecoder{buf: b}
	if d.byte() != talliesVersion {
		return fmt.Errorf("account %s: %w: unknown version", a.ID, ErrTalliesShape)
	}
	if err := a.restore(&d, p); err != nil {
		a.clearTallies(p)
		return fmt.Errorf("account %s: %w", a.ID, err)
	}
	return nil
}

// clearTallies empties the account's tallies, shaped by p.
func (a *Account) clearTallies(p Policy) {
	a.ring = NewRing(p.RingLen(), p.Spans())
	a.rep = reputationDays{}
	a.tracks = nil
	a.second, a.secondSends = 0, 0
}

func (a *Account) restore(d *talliesDecoder, p Policy) error {
	if err := a.ring.readFrom(d); err != nil {
		return err
	}
	if err := a.rep.readFrom(d); err != nil {
		return err
	}
	a.second = d.varint()
	a.secondSends = uint32(d.uvarint())
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.buf)) {
		return errCorruptTallies
	}
	for range n {
		t := &senderTrack{}
		if err := t.readFrom(d); err != nil {
			return err
		}
		if a.tracks == nil {
			a.tracks = &senderTracks{byKey: make(map[string]*senderTrack, n)}
		}
		a.tracks.byKey[t.sender] = t
		if t.dirty {
			a.tracks.dirty = append(a.tracks.dirty, t)
		}
	}
	if d.err != nil || len(d.buf) != 0 {
		return errCorruptTallies
	}
	return nil
}

var errCorruptTallies = errors.New("corrupt tallies")

func (r *Ring) appendTo(buf []byte) []byte {
	buf = binary.AppendVarint(buf, int64(r.head))
	buf = binary.AppendUvarint(buf, uint64(r.n))
	for _, s := range r.spans {
		buf = binary.AppendUvarint(buf, uint64(s))
	}
	buf = binary.AppendUvarint(buf, uint64(len(r.used)))
	for _, e := range r.used {
		buf = binary.AppendUvarint(buf, uint64(r.head-e.b)) // how old: small
		buf = appendCounts(buf, e.c)
	}
	// The running totals follow from the buckets and spans; they are
	// recomputed rather than trusted.
	return buf
}

func (r *Ring) readFrom(d *talliesDecoder) error {
	head := d.varint()
	if n := d.uvarint(); n != uint64(r.n) {
		return ErrTalliesShape
	}
	for _, s := range r.spans {
		if d.uvarint() != uint64(s) {
			return ErrTalliesShape
		}
	}
	used := d.uvarint()
	if d.err != nil || used > uint64(r.n) || head < 0 || head > math.MaxInt32 {
		return errCorruptTallies
	}
	r.head = int32(head)
	for range used {
		age := d.uvarint()
		c := readCounts(d)
		b := head - int64(age)
		// Oldest first, within the ring: anything else is damage.
		if d.err != nil || age >= uint64(r.n) || (len(r.used) > 0 && int64(r.used[len(r.used)-1].b) >= b) {
			return errCorruptTallies
		}
		r.used = append(r.used, bucketCounts{b: int32(b), c: c})
		for k, span := range r.spans {
			if span != 0 && b > head-int64(span) {
				r.totals[k].add(c)
			}
		}
	}
	return nil
}

func appendCounts(buf []byte, c Counts) []byte {
	buf = binary.AppendUvarint(buf, uint64(c.Sends))
	buf = binary.AppendUvarint(buf, uint64(c.HardBounces))
	buf = binary.AppendUvarint(buf, uint64(c.Complaints))
	return binary.AppendUvarint(buf, uint64(c.Blocks))
}

func readCounts(d *talliesDecoder) Counts {
	return Counts{Sends: d.uint32(), HardBounces: d.uint32(), Complaints: d.uint32(), Blocks: d.uint32()}
}

func (r *reputationDays) appendTo(buf []byte) []byte {
	buf = binary.AppendVarint(buf, int64(r.head))
	for _, c := range r.today {
		buf = binary.AppendUvarint(buf, uint64(c))
	}
	buf = binary.AppendUvarint(buf, uint64(len(r.past)))
	for _, c := range r.past {
		buf = binary.AppendUvarint(buf, uint64(c))
	}
	return buf
}

func (r *reputationDays) readFrom(d *talliesDecoder) error {
	head := d.varint()
	if head < 0 || head > math.MaxInt32 {
		return errCorruptTallies
	}
	r.head = int32(head)
	for i := range r.today {
		r.today[i] = d.uint32()
	}
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.buf)) {
		return errCorruptTallies
	}
	if n > 0 {
		r.past = make([]uint32, n)
		for i := range r.past {
			r.past[i] = d.uint32()
		}
	}
	if d.err != nil || !validPast(r.past) {
		return errCorruptTallies
	}
	return nil
}

func (t *senderTrack) appendTo(buf []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(t.sender)))
	buf = append(buf, t.sender...)
	buf = binary.AppendUvarint(buf, uint64(t.newest))
	var flags byte
	if t.overflowed {
		flags |= 1
	}
	if t.dirty {
		flags |= 2
	}
	buf = append(buf, flags)
	buf = binary.AppendVarint(buf, t.counts.head)
	for _, c := range t.counts.buckets {
		buf = binary.AppendUvarint(buf, uint64(c.sends))
		buf = binary.AppendUvarint(buf, uint64(c.bounces))
	}
	s := &t.recipients
	buf = binary.AppendUvarint(buf, uint64(s.used))
	buf = binary.AppendUvarint(buf, uint64(s.fullUntil))
	buf = binary.AppendUvarint(buf, uint64(len(s.slots)))
	for _, e := range s.slots {
		buf = binary.LittleEndian.AppendUint32(buf, e.hash)
		buf = binary.AppendUvarint(buf, uint64(e.at))
	}
	return buf
}

func (t *senderTrack) readFrom(d *talliesDecoder) error {
	t.sender = string(d.bytes())
	t.newest = d.uint32()
	flags := d.byte()
	t.overflowed, t.dirty = flags&1 != 0, flags&2 != 0
	t.counts.head = d.varint()
	for i := range t.counts.buckets {
		t.counts.buckets[i] = senderCounts{sends: d.uint32(), bounces: d.uint32()}
	}
	s := &t.recipients
	s.used = int(d.uvarint())
	s.fullUntil = d.uint32()
	n := d.uvarint()
	// A table's size is a power of two, and each slot takes 5 bytes at least.
	if d.err != nil || n > uint64(len(d.buf))/5 || (n != 0 && n&(n-1) != 0) || uint64(s.used) > n {
		return errCorruptTallies
	}
	if n > 0 {
		s.slots = make([]recipientSlot, n)
	}
	for i := range s.slots {
		s.slots[i] = recipientSlot{hash: d.fixed32(), at: d.uint32()}
	}
	if d.err != nil {
		return errCorruptTallies
	}
	return nil
}

// AppendBinary appends the platform's send counts to buf.
func (v *Volume) AppendBinary(buf []byte) ([]byte, error) {
	buf = append(buf, talliesVersion)
	buf = binary.AppendVarint(buf, v.sends.head)
	for _, n := range v.sends.buckets {
		buf = binary.AppendUvarint(buf, n)
	}
	return buf, nil
}

// UnmarshalBinary replaces the counts with those AppendBinary encoded.
func (v *Volume) UnmarshalBinary(b []byte) error {
	d := talliesDecoder{buf: b}
	if d.byte() != talliesVersion {
		return ErrTalliesShape
	}
	var w windowRing[uint64]
	w.head = d.varint()
	for i := range w.buckets {
		w.buckets[i] = d.uvarint()
	}
	if d.err != nil || len(d.buf) != 0 {
		return errCorruptTallies
	}
	v.sends = w
	return nil
}

// talliesDecoder reads what the appendTo methods wrote; the first error
// sticks and later reads return zero.
type talliesDecoder struct {
	buf []byte
	err error
}

func (d *talliesDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.err = errCorruptTallies
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *talliesDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.err = errCorruptTallies
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *talliesDecoder) uint32() uint32 {
	v := d.uvarint()
	if v > 1<<32-1 {
		d.err = errCorruptTallies
		return 0
	}
	return uint32(v)
}

func (d *talliesDecoder) fixed32() uint32 {
	if d.err != nil || len(d.buf) < 4 {
		d.err = errCorruptTallies
		return 0
	}
	v := binary.LittleEndian.Uint32(d.buf)
	d.buf = d.buf[4:]
	return v
}

func (d *talliesDecoder) byte() byte {
	if d.err != nil || len(d.buf) == 0 {
		d.err = errCorruptTallies
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *talliesDecoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.buf)) {
		d.err = errCorruptTallies
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}
