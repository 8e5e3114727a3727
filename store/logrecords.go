package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// A log record (one commit group's events, about half a megabyte under
// load) is a bucket of its own under the record's number (big-endian),
// holding the record's pieces (header, dedupe hashes, events) under the
// keys 0, 1, 2. bbolt keeps a leaf's values together and never splits a
// leaf of four keys or fewer, so a record is one run of pages, written
// with one write, and appending the next record rewrites none of it.
//
// Two older layouts are still read:
//   - a key of 8 bytes with a value is a whole record, as the first
//     releases wrote it. Records sat two to four to a leaf, and each
//     append wrote its neighbours again: three times the log's bytes.
//   - keys of 12 bytes, the record's number and a part's, are a record in
//     parts of a third of a page, as the next release wrote it. Each part
//     was a page written on its own: half of a commit's writes.

// logKeyLen is the length of a part's key: the record's number, then the
// part's, 4 bytes.
const logKeyLen = 12

// putLog appends record seq, the concatenation of pieces, to the log b:
// a bucket of its own under the record's number, holding piece i under key
// i. The pieces of a record share one leaf, which bbolt writes as one run
// of pages with one write, and no append rewrites an earlier record.
func putLog(b *bbolt.Bucket, seq uint64, pieces ...[]byte) error {
	// Records are appended in key order: full leaves waste no space and
	// are never written again.
	b.FillPercent = 1
	rec, err := b.CreateBucket(seqKey(seq))
	if err != nil {
		return fmt.Errorf("append log record %d: %w", seq, err)
	}
	for i, p := range pieces {
		if len(p) == 0 {
			continue
		}
		if err := rec.Put([]byte{byte(i)}, p); err != nil {
			return fmt.Errorf("append log record %d: %w", seq, err)
		}
	}
	return nil
}

// logCursor reads whole records from the log.
type logCursor struct {
	b *bbolt.Bucket
	c *bbolt.Cursor
	// k, v is where the cursor stands: the first part of the record the
	// next call reads, or nil at the end.
	k, v []byte
	// buf holds a record assembled from its pieces or parts; it is
	// reused, so a record read is valid until the next read.
	buf []byte
}

func newLogCursor(b *bbolt.Bucket) *logCursor {
	lc := &logCursor{b: b, c: b.Cursor()}
	lc.k, lc.v = lc.c.First()
	return lc
}

// seek moves to the first record numbered seq or later.
func (lc *logCursor) seek(seq uint64) {
	lc.k, lc.v = lc.c.Seek(seqKey(seq))
}

// lastLogSeq returns the number of the log's last record, or 0.
func lastLogSeq(b *bbolt.Bucket) uint64 {
	k, _ := b.Cursor().Last()
	if len(k) < 8 {
		return 0
	}
	return decodeSeq(k[:8])
}

// logRead says how much of a record logCursor.next reads.
type logRead int

const (
	// readHeader reads the record's header: when it was accepted and how
	// many events it holds.
	readHeader logRead = iota
	// readHashes reads the header and the dedupe hashes: a start that only
	// rebuilds the dedupe index reads a tenth of the log.
	readHashes
	// readWhole reads the whole record.
	readWhole
)

// next returns the next record and its number, ok false at the end. Unless
// what is readWhole, the record may be cut after what was asked for, and
// the pieces or parts after it are not read.
func (lc *logCursor) next(what logRead) (seq uint64, rec []byte, ok bool, err error) {
	if lc.k == nil {
		return 0, nil, false, nil
	}
	if len(lc.k) != 8 && len(lc.k) != logKeyLen {
		return 0, nil, false, fmt.Errorf("%w: log key %x", errCorrupt, lc.k)
	}
	seq = decodeSeq(lc.k[:8])
	if len(lc.k) == 8 {
		rec = lc.v
		if rec == nil { // a bucket: the record's pieces
			if rec, err = lc.pieces(seq, what); err != nil {
				return 0, nil, false, err
			}
		}
		lc.k, lc.v = lc.c.Next()
		return seq, rec, true, nil
	}
	if part := binary.BigEndian.Uint32(lc.k[8:]); part != 0 {
		return 0, nil, false, fmt.Errorf("%w: log record %d starts at part %d", errCorrupt, seq, part)
	}
	lc.buf = append(lc.buf[:0], lc.v...)
	for {
		if what != readWhole {
			if need := logPrefixLen(lc.buf, what == readHashes); need >= 0 && len(lc.buf) >= need {
				// The rest is not needed: skip its parts.
				lc.k, lc.v = lc.c.Seek(seqKey(seq + 1))
				return seq, lc.buf, true, nil
			}
		}
		lc.k, lc.v = lc.c.Next()
		if lc.k == nil || len(lc.k) != logKeyLen || decodeSeq(lc.k[:8]) != seq {
			return seq, lc.buf, true, nil
		}
		lc.buf = append(lc.buf, lc.v...)
	}
}

// pieces reads the record seq the cursor stands on, a bucket of pieces,
// as far as what asks.
func (lc *logCursor) pieces(seq uint64, what logRead) ([]byte, error) {
	b := lc.b.Bucket(lc.k)
	if b == nil {
		return nil, fmt.Errorf("%w: log record %d has no value", errCorrupt, seq)
	}
	lc.buf = lc.buf[:0]
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		lc.buf = append(lc.buf, v...)
		if what != readWhole {
			if need := logPrefixLen(lc.buf, what == readHashes); need >= 0 && len(lc.buf) >= need {
				break
			}
		}
	}
	return lc.buf, nil
}

// firstPiece returns the first value of a record's bucket, or nil.
func firstPiece(b *bbolt.Bucket) []byte {
	if b == nil {
		return nil
	}
	_, v := b.Cursor().First()
	return v
}

// logPrefixLen returns how many bytes of a record hold its header, and its
// dedupe hashes with hashes set, or -1 while head is too short to tell.
func logPrefixLen(head []byte, hashes bool) int {
	_, n, header, err := decodeLogStart(head)
	if err != nil {
		return -1
	}
	if !hashes || head[0] != logVersion {
		return header
	}
	return header + 8*n
}

// logRecordAt returns record seq, or nil when the log has none; it is
// valid while the transaction is open.
func logRecordAt(b *bbolt.Bucket, seq uint64) ([]byte, error) {
	lc := &logCursor{b: b, c: b.Cursor()}
	lc.seek(seq)
	got, rec, ok, err := lc.next(readWhole)
	if err != nil || !ok || got != seq {
		return nil, err
	}
	return rec, nil
}

// pruneLog deletes the log records accepted before cutoff, but never the
// newest, whose number the next start continues from. The log is in
// acceptance order, so it stops at the first younger record.
func pruneLog(tx *bbolt.Tx, cutoff time.Time) error {
	b := tx.Bucket(bucketEvents)
	last := lastLogSeq(b)
	// The keys are gathered first: bbolt's cursor skips the key after one
	// it deletes.
	type doomedKey struct {
		k      []byte
		bucket bool
	}
	var doomed []doomedKey
	c := b.Cursor()
	for k, v := c.First(); k != nil && len(k) >= 8 && decodeSeq(k[:8]) < last; {
		seq := decodeSeq(k[:8])
		head := v
		if head == nil { // a bucket of pieces, the header first
			head = firstPiece(b.Bucket(k))
		}
		acceptedAt, _, _, err := decodeLogStart(head)
		if err != nil {
			return fmt.Errorf("prune log record %d: %w", seq, err)
		}
		if !acceptedAt.Before(cutoff) {
			break
		}
		for ; k != nil && len(k) >= 8 && decodeSeq(k[:8]) == seq; k, v = c.Next() {
			doomed = append(doomed, doomedKey{bytes.Clone(k), v == nil})
		}
	}
	for _, d := range doomed {
		del := b.Delete
		if d.bucket {
			del = b.DeleteBucket
		}
		if err := del(d.k); err != nil {
			return fmt.Errorf("prune log record %d: %w", decodeSeq(d.k[:8]), err)
		}
	}
	return nil
}
