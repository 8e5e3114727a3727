package store

import (
	"encoding/binary"
	"time"
	"unsafe"

	"github.com/dpmon/dpmon/monitor"
)

// An event in the log: its strings as uvarint length and bytes, numbers as
// varints, the time as unix nanoseconds. Bounce and complaint details follow
// a flag byte. The whole event is kept, not just what the windows count, so
// that later rules can be rebuilt from the same log.
const (
	flagBounce    = 1
	flagComplaint = 2
	flagListing   = 4
)

func appendEvent(buf []byte, e *monitor.Event) []byte {
	buf = appendString(buf, e.ID)
	buf = appendString(buf, e.AccountID)
	buf = append(buf, byte(e.Type))
	buf = binary.AppendVarint(buf, e.OccurredAt.UnixNano())
	buf = appendString(buf, e.Recipient)
	buf = appendString(buf, e.Sender)
	buf = appendString(buf, e.MessageID)
	var flags byte
	if e.Bounce != nil {
		flags |= flagBounce
	}
	if e.Complaint != nil {
		flags |= flagComplaint
	}
	if e.Listing != nil {
		flags |= flagListing
	}
	buf = append(buf, flags)
	if b := e.Bounce; b != nil {
		buf = binary.AppendUvarint(buf, uint64(b.SMTPCode))
		buf = appendString(buf, b.EnhancedStatus)
		buf = appendString(buf, b.Diagnostic)
		buf = append(buf, byte(b.Class), byte(b.Verdict))
	}
	if c := e.Complaint; c != nil {
		buf = appendString(buf, c.FeedbackType)
		buf = appendString(buf, c.Source)
	}
	if l := e.Listing; l != nil {
		buf = appendString(buf, l.Blocklist)
		buf = appendString(buf, l.Listed)
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decoder reads a record field by field; the first error sticks and every
// later read returns a zero value.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.err = errCorrupt
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

// bytes returns the next length-prefixed field without copying it.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if uint64(len(d.buf)) < n {
		d.err = errCorrupt
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

// skimmedEvent is what a replay needs of a logged event, read without
// allocating: the byte slices point into the record.
type skimmedEvent struct {
	id, accountID []byte
	// event has only Type, OccurredAt, Recipient, Sender and Bounce.Verdict
	// set; its strings point into the record (see inRecord).
	event  monitor.Event
	bounce monitor.Bounce
}

// inRecord returns b as a string without copying it. Replay reads tens of
// millions of events, and a copy of each recipient would be most of its
// cost; Account.Observe copies what it keeps, so the strings never outlive
// the event: neither the read transaction nor the buffer a record read in
// parts is assembled in, which the next record reuses.
func inRecord(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// skimEvent reads one event into s for replay and returns the rest of buf.
func skimEvent(buf []byte, s *skimmedEvent) ([]byte, error) {
	d := decoder{buf: buf}
	s.id = d.bytes()
	s.accountID = d.bytes()
	s.event = monitor.Event{Type: monitor.EventType(d.byte())}
	s.event.OccurredAt = time.Unix(0, d.varint())
	s.event.Recipient = inRecord(d.bytes())
	s.event.Sender = inRecord(d.bytes())
	d.bytes() // message id
	flags := d.byte()
	if flags&flagBounce != 0 {
		d.uvarint() // SMTP code
		d.bytes()   // enhanced status
		d.bytes()   // diagnostic
		d.byte()    // class hint
		s.bounce = monitor.Bounce{Verdict: monitor.BounceClass(d.byte())}
		s.event.Bounce = &s.bounce
	}
	if flags&flagComplaint != 0 {
		d.bytes() // feedback type
		d.bytes() // source
	}
	if flags&flagListing != 0 {
		d.bytes() // blocklist
		d.bytes() // listed
	}
	return d.buf, d.err
}

// decodeEvent reads a whole event back, the inverse of appendEvent. A
// replay only skims events (skimEvent); the unmapped events are read whole.
func decodeEvent(buf []byte, e *monitor.Event) ([]byte, error) {
	d := decoder{buf: buf}
	*e = monitor.Event{
		ID:        d.string(),
		AccountID: d.string(),
		Type:      monitor.EventType(d.byte()),
	}
	e.OccurredAt = time.Unix(0, d.varint()).UTC()
	e.Recipient = d.string()
	e.Sender = d.string()
	e.MessageID = d.string()
	flags := d.byte()
	if flags&flagBounce != 0 {
		e.Bounce = &monitor.Bounce{
			SMTPCode:       int(d.uvarint()),
			EnhancedStatus: d.string(),
			Diagnostic:     d.string(),
			Class:          monitor.BounceClass(d.byte()),
			Verdict:        monitor.BounceClass(d.byte()),
		}
	}
	if flags&flagComplaint != 0 {
		e.Complaint = &monitor.Complaint{FeedbackType: d.string(), Source: d.string()}
	}
	if flags&flagListing != 0 {
		e.Listing = &monitor.Listing{Blocklist: d.string(), Listed: d.string()}
	}
	return d.buf, d.err
}

// string returns the next length-prefixed field as a copy.
func (d *decoder) string() string { return string(d.bytes()) }
