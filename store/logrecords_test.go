package store

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// encodeLogRecord returns a whole record, as putLog stores it.
func encodeLogRecord(acceptedAt time.Time, n int, hashes, events []byte) []byte {
	return slices.Concat(encodeLogHead(acceptedAt, n), hashes, events)
}

// testRecord returns a log record of n events accepted at at, whose
// hashes are 1..n and whose events are size bytes of filler.
func testRecord(at time.Time, n, size int) []byte {
	var hashes []byte
	for i := range n {
		hashes = binary.LittleEndian.AppendUint64(hashes, uint64(i+1))
	}
	return encodeLogRecord(at, n, hashes, bytes.Repeat([]byte{'e'}, size))
}

// putLogParts writes record seq as the release before this one did: in
// parts of a third of a page, under the record's number and the part's.
func putLogParts(b *bbolt.Bucket, seq uint64, rec []byte) error {
	size := (b.Tx().DB().Info().PageSize-16)/3 - 16 - logKeyLen
	for part := uint32(0); len(rec) > 0; part++ {
		n := min(size, len(rec))
		k := binary.BigEndian.AppendUint32(seqKey(seq), part)
		if err := b.Put(k, rec[:n]); err != nil {
			return err
		}
		rec = rec[n:]
	}
	return nil
}

func openLog(t *testing.T) *bbolt.DB {
	t.Helper()
	b, err := bbolt.Open(filepath.Join(t.TempDir(), "log.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		checkBolt(t, b)
		b.Close()
	})
	if err := b.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket(bucketEvents)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLogRecordsReadBackWholeOrInPart(t *testing.T) {
	b := openLog(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	records := map[uint64][]byte{
		1: testRecord(t0, 3, 100),                       // a whole record, as the first releases wrote it
		2: testRecord(t0.Add(time.Second), 500, 70_000), // in parts, as the release before this one did
		// The rest as buckets of pieces, the first small enough for bbolt
		// to keep its bucket inline.
		3: testRecord(t0.Add(2*time.Second), 1, 10),
		4: testRecord(t0.Add(3*time.Second), 2, 300),
		5: testRecord(t0.Add(4*time.Second), 500, 70_000),
		6: testRecord(t0.Add(5*time.Second), 20_000, 1_500_000),
	}
	last := uint64(len(records))
	if err := b.Update(func(tx *bbolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		if err := events.Put(seqKey(1), records[1]); err != nil {
			return err
		}
		if err := putLogParts(events, 2, records[2]); err != nil {
			return err
		}
		for seq := uint64(3); seq <= last; seq++ {
			if err := putLog(events, seq, recordPieces(t, records[seq])...); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.View(func(tx *bbolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		if got := lastLogSeq(events); got != last {
			t.Errorf("last record %d, want %d", got, last)
		}
		for _, what := range []logRead{readHeader, readHashes, readWhole} {
			lc := newLogCursor(events)
			for want := uint64(1); ; want++ {
				seq, rec, ok, err := lc.next(what)
				if err != nil {
					return err
				}
				if !ok {
					if want != last+1 {
						t.Errorf("read %d: the log ended before record %d", what, want)
					}
					break
				}
				if seq != want {
					t.Fatalf("read %d: record %d, want %d", what, seq, want)
				}
				full := records[seq]
				if !bytes.HasPrefix(full, rec) {
					t.Errorf("read %d: record %d is not what was written", what, seq)
				}
				switch what {
				case readWhole:
					if len(rec) != len(full) {
						t.Errorf("record %d: read %d bytes, want all %d", seq, len(rec), len(full))
					}
				case readHashes:
					at, n, hashes, _, err := decodeLogHeader(rec)
					if err != nil {
						t.Errorf("record %d: %v", seq, err)
					} else if len(hashes) != 8*n || binary.LittleEndian.Uint64(hashes[8*(n-1):]) != uint64(n) {
						t.Errorf("record %d: %d bytes of hashes for %d events", seq, len(hashes), n)
					} else if at.Sub(t0) != time.Duration(seq-1)*time.Second {
						t.Errorf("record %d accepted at %v", seq, at)
					}
				case readHeader:
					if _, n, _, err := decodeLogStart(rec); err != nil || n == 0 {
						t.Errorf("record %d: %d events, %v", seq, n, err)
					}
				}
			}
		}
		for seq, want := range records {
			got, err := logRecordAt(events, seq)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("record %d: %d bytes (%v), want %d", seq, len(got), err, len(want))
			}
		}
		if got, err := logRecordAt(events, last+1); got != nil || err != nil {
			t.Errorf("record %d: %d bytes, %v; want none", last+1, len(got), err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Each record is written once, in one write: whole records sat several to
// a leaf, and appending one wrote its neighbours again; records in parts
// took a write per page.
func TestLogAppendWritesEachRecordOnce(t *testing.T) {
	b := openLog(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for seq := uint64(1); seq <= 12; seq++ {
		rec := testRecord(t0, 10_000, 800_000)
		tx, err := b.Begin(true)
		if err != nil {
			t.Fatal(err)
		}
		if err := putLog(tx.Bucket(bucketEvents), seq, recordPieces(t, rec)...); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		// Pages allocated by the commit: the record's, the last leaf
		// rewritten and a few branch pages.
		stats := tx.Stats()
		if limit := int64(len(rec)) * 11 / 10; stats.GetPageAlloc() > limit {
			t.Errorf("record %d of %d bytes: the commit allocated %d bytes of pages, want at most %d", seq, len(rec), stats.GetPageAlloc(), limit)
		}
		// Writes: the record's run of pages, the log's last leaf, the
		// branches above it and the freelist.
		if got := stats.GetWrite(); got > 8 {
			t.Errorf("record %d: the commit made %d writes, want at most 8", seq, got)
		}
	}
}

func TestPruneLogDeletesEveryPartOfOldRecords(t *testing.T) {
	b := openLog(t)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := b.Update(func(tx *bbolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		if err := events.Put(seqKey(1), testRecord(t0, 2, 10)); err != nil {
			return err
		}
		if err := putLogParts(events, 2, testRecord(t0.Add(2*time.Hour), 1000, 20_000)); err != nil {
			return err
		}
		for seq := uint64(3); seq <= 6; seq++ {
			at := t0.Add(time.Duration(seq) * time.Hour)
			if seq == 6 {
				at = t0 // the newest record is kept, however old
			}
			if err := putLog(events, seq, testRecord(at, 1000, 20_000)); err != nil {
				return err
			}
		}
		return pruneLog(tx, t0.Add(4*time.Hour+time.Minute))
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		var left []uint64
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if seq := decodeSeq(k[:8]); len(left) == 0 || left[len(left)-1] != seq {
				left = append(left, seq)
			}
		}
		if want := []uint64{5, 6}; !slices.Equal(left, want) {
			t.Errorf("records left %v, want %v", left, want)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// recordPieces cuts a whole record into the pieces a commit group puts:
// its header, its hashes and its events.
func recordPieces(t *testing.T, rec []byte) [][]byte {
	t.Helper()
	_, n, header, err := decodeLogStart(rec)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{rec[:header], rec[header : header+8*n], rec[header+8*n:]}
}
