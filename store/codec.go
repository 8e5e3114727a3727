package store

import (
	"encoding/binary"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// An event in the log: its strings as uvarint length and bytes, numbers as
// varints, the time as unix nanoseconds. Bounce and complaint details follow
// a flag byte. The whole event is kept, not just what the windows count, so
// that later rules can be rebuilt from the same log.
const (
	flagBounce    = 1
	flagComplaint = 2
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
	return buf
}

// decodeEvent reads one event into e, reusing nothing of buf (bbolt's
// memory is only valid inside its transaction), and returns the rest.
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
	return d.buf, d.err
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

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if uint64(len(d.buf)) < n {
		d.err = errCorrupt
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s
}
