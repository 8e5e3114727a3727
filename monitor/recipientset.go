package monitor

// recipientSet holds the recipients one sender mailed lately: for each, a
// 32-bit hash of the address and when it was last mailed (unix seconds).
// It is an open-addressing table with linear probing, so that a send looks
// at one or two cache lines of a cold sender rather than scanning a list;
// entries older than the window are reused in place. It keeps at most
// limit live entries: no bulk limit is higher, so a full set says enough.
type recipientSet struct {
	slots []recipientSlot
	used  int // slots not empty: live or expired
	// fullUntil is set while the set holds limit live entries: until its
	// oldest expires, a new recipient is not recorded.
	fullUntil uint32
}

type recipientSlot struct {
	hash uint32
	at   uint32 // 0: empty
}

const minRecipientSlots = 8

// add records a mail to the recipient with hash h at unix second at;
// entries at or before expired are free. It reports false when the
// recipient is new and limit others are live: it is not recorded.
func (s *recipientSet) add(h, at, expired uint32, limit int) bool {
	if s.slots == nil {
		s.slots = make([]recipientSlot, minRecipientSlots)
	}
	mask := uint32(len(s.slots) - 1)
	reuse := -1
	for i := h & mask; ; i = (i + 1) & mask {
		e := &s.slots[i]
		switch {
		case e.hash == h && e.at != 0:
			e.at = max(e.at, at)
			return true
		case e.at == 0:
			if reuse >= 0 {
				s.slots[reuse] = recipientSlot{h, at}
				return true
			}
			return s.insertEmpty(i, h, at, expired, limit)
		case reuse < 0 && e.at <= expired:
			reuse = int(i)
		}
	}
}

// insertEmpty puts a new recipient in the empty slot i, unless the table
// is too full to probe quickly or holds limit entries: then it is rebuilt
// first, or, full of live entries, left as it is. Live entries never
// outnumber used ones, so the count stays exact up to limit.
func (s *recipientSet) insertEmpty(i uint32, h, at, expired uint32, limit int) bool {
	if s.used < limit && (s.used+1)*3 <= len(s.slots)*2 {
		s.slots[i] = recipientSlot{h, at}
		s.used++
		return true
	}
	if expired < s.fullUntil || !s.rebuild(expired, limit) {
		return false
	}
	return s.add(h, at, expired, limit)
}

// rebuild drops the expired entries and sizes the table for the live ones
// and one more. It reports false, changing nothing, when limit entries
// are live.
func (s *recipientSet) rebuild(expired uint32, limit int) bool {
	var live []recipientSlot
	oldest := ^uint32(0)
	for _, e := range s.slots {
		if e.at > expired {
			live = append(live, e)
			oldest = min(oldest, e.at)
		}
	}
	if len(live) >= limit {
		s.fullUntil = oldest
		return false
	}
	size := minRecipientSlots
	for (len(live)+1)*3 > size*2 {
		size *= 2
	}
	s.slots, s.used, s.fullUntil = make([]recipientSlot, size), len(live), 0
	mask := uint32(size - 1)
	for _, e := range live {
		i := e.hash & mask
		for s.slots[i].at != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = e
	}
	return true
}

// live counts the entries after expired.
func (s *recipientSet) live(expired uint32) int {
	n := 0
	for _, e := range s.slots {
		if e.at > expired {
			n++
		}
	}
	return n
}
