package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// recipientRecord is a recipient's state as stored: small and binary,
// because CheckRecipients reads a thousand of them per call and an account
// may have millions.
type recipientRecord struct {
	monitor.Recipient
	history []uint64 // the keys of its history entries, oldest first
	// pendingAt prefixes its key in bucketPending while it is pending
	// (see pending.go).
	pendingAt uint64
}

// The record: a version byte, status, reason, then since, until and the last
// soft bounce as unix nanoseconds (varint, 0 for none), the soft blocks in a
// row, the pending hard bounces (count, then times) and the history entries
// (count, then the first key and the gaps to the next: keys grow), the
// time of the last manual lift and, when not 0, the prefix of its pending
// key (uvarint; a record without it has 0).
const recipientVersion = 1

func encodeRecipient(r recipientRecord) []byte {
	buf := make([]byte, 0, 32+8*len(r.HardBounces))
	buf = append(buf, recipientVersion, byte(r.Status), byte(r.Reason))
	buf = appendTime(buf, r.Since)
	buf = appendTime(buf, r.Until)
	buf = appendTime(buf, r.LastSoftBounce)
	buf = binary.AppendUvarint(buf, uint64(r.SoftBlocks))
	buf = binary.AppendUvarint(buf, uint64(len(r.HardBounces)))
	for _, t := range r.HardBounces {
		buf = appendTime(buf, t)
	}
	buf = binary.AppendUvarint(buf, uint64(len(r.history)))
	prev := uint64(0)
	for _, seq := range r.history {
		buf = binary.AppendUvarint(buf, seq-prev)
		prev = seq
	}
	buf = appendTime(buf, r.LiftedAt)
	if r.pendingAt != 0 {
		buf = binary.AppendUvarint(buf, r.pendingAt)
	}
	return buf
}

// decodeRecipient decodes a stored record; nil is a recipient never seen.
func decodeRecipient(v []byte) (recipientRecord, error) {
	var r recipientRecord
	if v == nil {
		return r, nil
	}
	if len(v) < 3 || v[0] != recipientVersion {
		return r, fmt.Errorf("%w: unknown recipient record version", errCorrupt)
	}
	r.Status, r.Reason = monitor.RecipientStatus(v[1]), monitor.SuppressionReason(v[2])
	d := decoder{buf: v[3:]}
	r.Since, r.Until, r.LastSoftBounce = d.time(), d.time(), d.time()
	r.SoftBlocks = int(d.uvarint())
	if n := d.uvarint(); n > 0 && n <= uint64(len(d.buf)) {
		r.HardBounces = make([]time.Time, n)
		for i := range r.HardBounces {
			r.HardBounces[i] = d.time()
		}
	} else if n > 0 {
		return r, errCorrupt
	}
	if n := d.uvarint(); n > 0 && n <= uint64(len(d.buf)) {
		r.history = make([]uint64, n)
		prev := uint64(0)
		for i := range r.history {
			prev += d.uvarint()
			r.history[i] = prev
		}
	} else if n > 0 {
		return r, errCorrupt
	}
	r.LiftedAt = d.time()
	if d.err == nil && len(d.buf) > 0 {
		r.pendingAt = d.uvarint()
	}
	return r, d.err
}

func appendTime(buf []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(buf, 0)
	}
	return binary.AppendVarint(buf, t.UnixNano())
}

func (d *decoder) time() time.Time {
	ns := d.varint()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// A history entry: a version byte, then when (unix nanoseconds, varint),
// kind, status and reason, until (varint, 0 for none), the event id, the
// actor, the note and the description (length-prefixed), then a byte that
// says whether a bounce follows: its SMTP code (varint), enhanced status
// and diagnostic, class, verdict and reason, and rule. Every bounce writes
// one, on the writer's path, so it is binary: encoding JSON took a fifth of
// the writer's time on recipients.
//
// Version 1 entries, JSON, are still read.
const changeVersion = 2

func encodeChange(c monitor.RecipientChange) []byte {
	buf := make([]byte, 0, 64+len(c.EventID)+len(c.Description))
	buf = append(buf, changeVersion)
	buf = appendTime(buf, c.At)
	buf = append(buf, byte(c.Kind), byte(c.Status), byte(c.Reason))
	buf = appendTime(buf, c.Until)
	buf = appendString(buf, c.EventID)
	buf = appendString(buf, c.Actor)
	buf = appendString(buf, c.Note)
	buf = appendString(buf, c.Description)
	b := c.Bounce
	if b == nil {
		return append(buf, 0)
	}
	buf = append(buf, 1)
	buf = binary.AppendVarint(buf, int64(b.SMTPCode))
	buf = appendString(buf, b.EnhancedStatus)
	buf = appendString(buf, b.Diagnostic)
	buf = append(buf, byte(b.Class), byte(b.Verdict), byte(b.Reason))
	return appendString(buf, b.Rule)
}

func decodeChange(v []byte) (monitor.RecipientChange, error) {
	if len(v) > 0 && v[0] == '{' {
		return decodeChangeV1(v)
	}
	if len(v) == 0 || v[0] != changeVersion {
		return monitor.RecipientChange{}, fmt.Errorf("%w: unknown recipient change version", errCorrupt)
	}
	d := decoder{buf: v[1:]}
	var c monitor.RecipientChange
	c.At = d.time()
	c.Kind, c.Status, c.Reason = monitor.ChangeKind(d.byte()), monitor.RecipientStatus(d.byte()), monitor.SuppressionReason(d.byte())
	c.Until = d.time()
	c.EventID, c.Actor, c.Note, c.Description = string(d.bytes()), string(d.bytes()), string(d.bytes()), string(d.bytes())
	if d.byte() == 1 {
		b := &monitor.Bounce{SMTPCode: int(d.varint())}
		b.EnhancedStatus, b.Diagnostic = string(d.bytes()), string(d.bytes())
		b.Class, b.Verdict, b.Reason = monitor.BounceClass(d.byte()), monitor.BounceClass(d.byte()), monitor.BounceReason(d.byte())
		b.Rule = string(d.bytes())
		c.Bounce = b
	}
	if d.err == nil && len(d.buf) > 0 {
		d.err = fmt.Errorf("%w: %d bytes after a recipient change", errCorrupt, len(d.buf))
	}
	return c, d.err
}

// changeRecordV1 is a history entry as the releases before binary entries
// stored it.
type changeRecordV1 struct {
	V           int                       `json:"v"`
	At          time.Time                 `json:"at"`
	Kind        monitor.ChangeKind        `json:"kind"`
	Status      monitor.RecipientStatus   `json:"status"`
	Reason      monitor.SuppressionReason `json:"reason,omitempty"`
	Until       time.Time                 `json:"until,omitzero"`
	EventID     string                    `json:"event_id,omitempty"`
	Bounce      *bounceRecordV1           `json:"bounce,omitempty"`
	Actor       string                    `json:"actor,omitempty"`
	Note        string                    `json:"note,omitempty"`
	Description string                    `json:"description"`
}

type bounceRecordV1 struct {
	SMTPCode       int                  `json:"smtp_code,omitempty"`
	EnhancedStatus string               `json:"enhanced_status,omitempty"`
	Diagnostic     string               `json:"diagnostic,omitempty"`
	Class          monitor.BounceClass  `json:"class,omitempty"`
	Verdict        monitor.BounceClass  `json:"verdict"`
	Reason         monitor.BounceReason `json:"reason,omitempty"`
	Rule           string               `json:"rule,omitempty"`
}

func decodeChangeV1(v []byte) (monitor.RecipientChange, error) {
	var r changeRecordV1
	if err := json.Unmarshal(v, &r); err != nil {
		return monitor.RecipientChange{}, err
	}
	if r.V != 1 {
		return monitor.RecipientChange{}, fmt.Errorf("%w: recipient change version %d", errCorrupt, r.V)
	}
	c := monitor.RecipientChange{
		At: r.At, Kind: r.Kind, Status: r.Status, Reason: r.Reason, Until: r.Until,
		EventID: r.EventID, Actor: r.Actor, Note: r.Note, Description: r.Description,
	}
	if b := r.Bounce; b != nil {
		c.Bounce = &monitor.Bounce{SMTPCode: b.SMTPCode, EnhancedStatus: b.EnhancedStatus, Diagnostic: b.Diagnostic,
			Class: b.Class, Verdict: b.Verdict, Reason: b.Reason, Rule: b.Rule}
	}
	return c, nil
}
