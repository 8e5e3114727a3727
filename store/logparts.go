package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"go.etcd.io/bbolt"
)

// A log record (one commit group's events, about a megabyte under load)
// is stored in parts, each under the key of the record's number and the
// part's (both big-endian), small enough that three fill a page.
//
// bbolt keeps values inline in leaf nodes and never splits a node of four
// keys or fewer, so whole records sat two to four to a leaf, and each
// append wrote the previous records of its leaf again: three times the
// log's bytes, measured with strace under dpctl bench. Parts fill leaves
// page by page, and an append rewrites at most the last one.
//
// A key of 8 bytes is a whole record, written before parts were.

// logKeyLen is the length of a part's key: the record's number, then the
// part's, 4 bytes (a group of 32,768 events of the largest kind takes
// 200 MB, some 150,000 parts).
const logKeyLen = 12

// logPartKey returns the key of part i of record seq.
func logPartKey(seq uint64, part uint32) []byte {
	k := make([]byte, logKeyLen)
	binary.BigEndian.PutUint64(k, seq)
	binary.BigEndian.PutUint32(k[8:], part)
	return k
}

// logPartSize returns the size of the parts that fill a page of pageSize
// bytes three to a leaf: the page's 16-byte header, then per part a
// 16-byte element, its key and its value.
func logPartSize(pageSize int) int {
	return (pageSize-16)/3 - 16 - logKeyLen
}

// putLog appends record seq, the concatenation of pieces, to the log b in
// parts of partSize bytes. bbolt keeps the values it is given until the
// transaction ends, so a part within one piece is not copied.
func putLog(b *bbolt.Bucket, seq uint64, partSize int, pieces ...[]byte) error {
	// Records are appended in key order: full leaves waste no space and
	// are never written again.
	b.FillPercent = 1
	pieces = slices.Clone(pieces) // what is left of each, without changing the caller's
	for part := 0; ; part++ {
		for len(pieces) > 0 && len(pieces[0]) == 0 {
			pieces = pieces[1:]
		}
		if len(pieces) == 0 {
			return nil
		}
		if uint64(part) > math.MaxUint32 {
			return fmt.Errorf("append log record %d: more than %d parts", seq, uint64(math.MaxUint32))
		}
		var v []byte
		if len(pieces[0]) >= partSize {
			v, pieces[0] = pieces[0][:partSize], pieces[0][partSize:]
		} else {
			// The part spans pieces.
			v = make([]byte, 0, partSize)
			for len(pieces) > 0 && len(v) < partSize {
				n := min(len(pieces[0]), partSize-len(v))
				v = append(v, pieces[0][:n]...)
				if pieces[0] = pieces[0][n:]; len(pieces[0]) == 0 {
					pieces = pieces[1:]
				}
			}
		}
		if err := b.Put(logPartKey(seq, uint32(part)), v); err != nil {
			return fmt.Errorf("append log record %d: %w", seq, err)
		}
	}
}

// logCursor reads whole records from the log.
type logCursor struct {
	c *bbolt.Cursor
	// k, v is where the cursor stands: the first part of the record the
	// next call reads, or nil at the end.
	k, v []byte
	// buf holds a record assembled from parts; it is reused, so a record
	// read is valid until the next read.
	buf []byte
}

func newLogCursor(b *bbolt.Bucket) *logCursor {
	lc := &logCursor{c: b.Cursor()}
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
// the parts after it are not read.
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
	lc := &logCursor{c: b.Cursor()}
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
	var doomed [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil && len(k) >= 8 && decodeSeq(k[:8]) < last; {
		seq := decodeSeq(k[:8])
		acceptedAt, _, _, err := decodeLogStart(v)
		if err != nil {
			return fmt.Errorf("prune log record %d: %w", seq, err)
		}
		if !acceptedAt.Before(cutoff) {
			break
		}
		for ; k != nil && len(k) >= 8 && decodeSeq(k[:8]) == seq; k, v = c.Next() {
			doomed = append(doomed, bytes.Clone(k))
		}
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("prune log record %d: %w", decodeSeq(k[:8]), err)
		}
	}
	return nil
}
