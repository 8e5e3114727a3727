package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// Unmapped is an event a source gave that no mapping assigned to an
// account, kept for an operator to see.
type Unmapped struct {
	Seq      uint64
	Source   string // e.g. "mailgun", "ses"
	Received time.Time
	Reason   string        // why no account
	Event    monitor.Event // AccountID empty
}

// defaultMaxUnmapped is Options.MaxUnmapped when unset: enough to show
// what a misconfigured webhook sends for a while, and a few megabytes.
const defaultMaxUnmapped = 10_000

// maxUnmappedReason bounds a kept reason, and maxUnmappedField each of the
// event's short fields; the rest is cut.
const (
	maxUnmappedReason = 1 << 10
	maxUnmappedField  = 1 << 10
)

// An unmapped record: the version, the time received as unix nanoseconds
// (varint), the source and the reason (uvarint length and bytes), then the
// event as the log stores it (appendEvent).
const unmappedVersion = 1

func encodeUnmapped(u *Unmapped) []byte {
	buf := []byte{unmappedVersion}
	buf = binary.AppendVarint(buf, u.Received.UnixNano())
	buf = appendString(buf, u.Source)
	buf = appendString(buf, cutString(u.Reason, maxUnmappedReason))
	// No rule bounded these events' fields (they were never validated):
	// each is cut, so that a record stays small and a page of them fits
	// a response.
	e := u.Event
	for _, f := range []*string{&e.ID, &e.AccountID, &e.Recipient, &e.Sender, &e.MessageID} {
		*f = cutString(*f, maxUnmappedField)
	}
	if e.Bounce != nil {
		b := *e.Bounce
		b.EnhancedStatus, b.Diagnostic = cutString(b.EnhancedStatus, maxUnmappedField), cutString(b.Diagnostic, monitor.MaxDiagnosticLen)
		e.Bounce = &b
	}
	if e.Complaint != nil {
		c := *e.Complaint
		c.FeedbackType, c.Source = cutString(c.FeedbackType, maxUnmappedField), cutString(c.Source, maxUnmappedField)
		e.Complaint = &c
	}
	e.Listing = nil // no source makes one
	return appendEvent(buf, &e)
}

func decodeUnmapped(seq uint64, v []byte) (Unmapped, error) {
	d := decoder{buf: v}
	if ver := d.byte(); d.err == nil && ver != unmappedVersion {
		return Unmapped{}, fmt.Errorf("%w: unmapped record version %d", errCorrupt, ver)
	}
	u := Unmapped{Seq: seq}
	u.Received = time.Unix(0, d.varint()).UTC()
	u.Source = d.string()
	u.Reason = d.string()
	if d.err != nil {
		return Unmapped{}, d.err
	}
	rest, err := decodeEvent(d.buf, &u.Event)
	if err != nil {
		return Unmapped{}, err
	}
	if len(rest) != 0 {
		return Unmapped{}, fmt.Errorf("%w: %d bytes after the unmapped event", errCorrupt, len(rest))
	}
	return u, nil
}

// cutString returns s cut to at most n bytes, not inside a character.
func cutString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// KeepUnmapped appends kept to the unmapped events, in one transaction that
// is durable when it returns, and deletes the oldest beyond
// Options.MaxUnmapped. Seq is assigned; a zero Received is the store's
// clock.
func (db *DB) KeepUnmapped(ctx context.Context, kept []Unmapped) error {
	if err := db.Err(); err != nil {
		return fmt.Errorf("keep unmapped events: %w", err)
	}
	select {
	case <-db.closing:
		return fmt.Errorf("keep unmapped events: %w", ErrClosed)
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("keep unmapped events: %w", err)
	}
	now := db.clock()
	// Not through the committer: these records touch nothing in memory,
	// and bbolt keeps this transaction and the writer's apart.
	err := db.bolt.Update(func(tx *bbolt.Tx) error { return putUnmapped(tx, kept, now, db.maxUnmapped) })
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		err = ErrClosed // Close came between the check above and the transaction
	}
	if err != nil {
		return fmt.Errorf("keep unmapped events: %w", err)
	}
	return nil
}

// putUnmapped appends kept inside tx, each event once by its source and
// id (a sender's retry keeps nothing twice), then deletes the records
// beyond the newest bound.
func putUnmapped(tx *bbolt.Tx, kept []Unmapped, now time.Time, bound int) error {
	b, ids := tx.Bucket(bucketUnmapped), tx.Bucket(bucketUnmappedIDs)
	var last uint64
	for i := range kept {
		u := kept[i]
		if u.Received.IsZero() {
			u.Received = now
		}
		id := unmappedID(u.Source, cutString(u.Event.ID, maxUnmappedField)) // as the record keeps it
		if ids.Get(id) != nil {
			continue
		}
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("unmapped sequence: %w", err)
		}
		if err := b.Put(seqKey(seq), encodeUnmapped(&u)); err != nil {
			return fmt.Errorf("append unmapped event %d: %w", seq, err)
		}
		if err := ids.Put(id, seqKey(seq)); err != nil {
			return fmt.Errorf("index unmapped event %d: %w", seq, err)
		}
		last = seq
	}
	if last <= uint64(bound) {
		return nil
	}
	// The newest bound sequence numbers are kept: the keys are appended in
	// order and deleted only from the oldest, so that is bound records. The
	// cursor starts over after each delete: Next after a Delete may skip a key.
	c := b.Cursor()
	for k, v := c.First(); k != nil && decodeSeq(k) <= last-uint64(bound); k, v = c.First() {
		// A record that cannot be read still goes: it must not stop
		// every later event from being kept. Its index entry stays, and
		// only keeps that one event from being kept again.
		if u, err := decodeUnmapped(decodeSeq(k), v); err == nil {
			if err := ids.Delete(unmappedID(u.Source, u.Event.ID)); err != nil {
				return fmt.Errorf("unindex unmapped event %d: %w", decodeSeq(k), err)
			}
		}
		if err := c.Delete(); err != nil {
			return fmt.Errorf("delete unmapped event %d: %w", decodeSeq(k), err)
		}
	}
	return nil
}

// unmappedID is the key of an unmapped event in bucketUnmappedIDs.
func unmappedID(source, eventID string) []byte {
	return append(append([]byte(source), 0), eventID...)
}

// Unmapped returns up to limit unmapped events from source (all sources
// when empty), newest first, from before the page token on, and the token
// of the next page ("" at the end).
func (db *DB) Unmapped(ctx context.Context, source string, limit int, pageToken string) ([]Unmapped, string, error) {
	var out []Unmapped
	var next string
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		next, err = newestFirst(tx.Bucket(bucketUnmapped), pageToken, limit, func(seq uint64, v []byte) (bool, bool, error) {
			u, err := decodeUnmapped(seq, v)
			if err != nil {
				return false, false, fmt.Errorf("unmapped event %d: %w", seq, err)
			}
			if source != "" && u.Source != source {
				return false, false, ctx.Err()
			}
			out = append(out, u)
			return true, false, nil
		})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("unmapped events: %w", err)
	}
	return out, next, nil
}
