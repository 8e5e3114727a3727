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

// changeRecord is one entry of a recipient's history as stored. History is
// read rarely, one recipient at a time, so it is JSON like the accounts.
type changeRecord struct {
	V           int                       `json:"v"`
	At          time.Time                 `json:"at"`
	Kind        monitor.ChangeKind        `json:"kind"`
	Status      monitor.RecipientStatus   `json:"status"`
	Reason      monitor.SuppressionReason `json:"reason,omitempty"`
	Until       time.Time                 `json:"until,omitzero"`
	EventID     string                    `json:"event_id,omitempty"`
	Bounce      *bounceRecord             `json:"bounce,omitempty"`
	Actor       string                    `json:"actor,omitempty"`
	Note        string                    `json:"note,omitempty"`
	Description string                    `json:"description"`
}

type bounceRecord struct {
	SMTPCode       int                  `json:"smtp_code,omitempty"`
	EnhancedStatus string               `json:"enhanced_status,omitempty"`
	Diagnostic     string               `json:"diagnostic,omitempty"`
	Class          monitor.BounceClass  `json:"class,omitempty"`
	Verdict        monitor.BounceClass  `json:"verdict"`
	Reason         monitor.BounceReason `json:"reason,omitempty"`
	Rule           string               `json:"rule,omitempty"`
}

const changeVersion = 1

func encodeChange(c monitor.RecipientChange) ([]byte, error) {
	r := changeRecord{
		V: changeVersion, At: c.At.UTC(), Kind: c.Kind, Status: c.Status, Reason: c.Reason, Until: c.Until,
		EventID: c.EventID, Actor: c.Actor, Note: c.Note, Description: c.Description,
	}
	if b := c.Bounce; b != nil {
		r.Bounce = &bounceRecord{SMTPCode: b.SMTPCode, EnhancedStatus: b.EnhancedStatus, Diagnostic: b.Diagnostic,
			Class: b.Class, Verdict: b.Verdict, Reason: b.Reason, Rule: b.Rule}
	}
	v, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode recipient change: %w", err)
	}
	return v, nil
}

func decodeChange(v []byte) (monitor.RecipientChange, error) {
	var r changeRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return monitor.RecipientChange{}, err
	}
	if r.V != changeVersion {
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
