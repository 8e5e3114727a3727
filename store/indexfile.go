package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"unsafe"
)

// The dedupe index is saved to a file beside the store, so that a start
// reads it in one sequential pass instead of rebuilding it from every
// record's header (tens of millions of random inserts, most of a start).
// A clean shutdown writes it whole; while the server runs, SaveIndex
// writes it every few minutes, a shard at a time, so that a start after a
// crash reads most of it from the file too.
//
// Each shard is saved with the first log record it may not cover: one
// not yet durable when the shard was copied. A start takes each shard from
// the file and indexes, from the log, the records from that one on; a
// record the crash took is never indexed, and entries the file holds for
// it are only a lookup's false lead (the log settles each match). An
// entry for a record pruned since is forgotten by the next prune. So the
// file stays valid as the log grows, and a start keeps it. A file that
// claims records the log does not have (a store restored from an older
// copy) is refused, and the index rebuilt.
//
// Layout, little-endian: the magic, the hash seed; for each shard the
// first record it may not cover, its slot count, its key count and its
// slots; the log's spans when the file was written (their count, then
// first record, start, last and events of each); a CRC-32C of all that.

// IndexFileName is the dedupe index's file inside the data directory.
const IndexFileName = "dedupe.idx"

var indexMagic = [8]byte{'d', 'p', 'm', 'i', 'd', 'x', '0', '3'}

// errStaleIndex is why an index file is not used: it claims log records
// the log does not have, or it was written with another seed.
var errStaleIndex = errors.New("the index file does not match the log")

// indexWriter writes an index file to a temporary file, renamed into
// place once complete.
type indexWriter struct {
	path, tmp string
	f         *os.File
	crc       hash.Hash32
	w         *bufio.Writer
	buf       []byte
	err       error
}

func newIndexWriter(dataDir, tmpName string, seed uint64) *indexWriter {
	path := filepath.Join(dataDir, IndexFileName)
	iw := &indexWriter{path: path, tmp: filepath.Join(dataDir, tmpName), crc: crc32.New(castagnoliTable), buf: make([]byte, 0, 8*indexChunkSlots)}
	iw.f, iw.err = os.OpenFile(iw.tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if iw.err == nil {
		iw.w = bufio.NewWriterSize(io.MultiWriter(iw.f, iw.crc), 1<<20)
		head := binary.LittleEndian.AppendUint64(append([]byte{}, indexMagic[:]...), seed)
		_, iw.err = iw.w.Write(head)
	}
	return iw
}

// shard writes the next shard: its slots, n keys, covering the log
// records before from.
func (iw *indexWriter) shard(from uint64, slots []uint64, n int) {
	if iw.err != nil {
		return
	}
	head := binary.LittleEndian.AppendUint64(iw.buf[:0], from)
	head = binary.LittleEndian.AppendUint64(head, uint64(len(slots)))
	head = binary.LittleEndian.AppendUint64(head, uint64(n))
	if _, iw.err = iw.w.Write(head); iw.err != nil {
		return
	}
	if littleEndian {
		_, iw.err = iw.w.Write(slotBytes(slots))
		return
	}
	for chunk := range slices.Chunk(slots, indexChunkSlots) {
		iw.buf = iw.buf[:0]
		for _, s := range chunk {
			iw.buf = binary.LittleEndian.AppendUint64(iw.buf, s)
		}
		if _, iw.err = iw.w.Write(iw.buf); iw.err != nil {
			return
		}
	}
}

// finish writes the spans and the checksum and renames the file into
// place; it returns the first error of the whole write.
func (iw *indexWriter) finish(spans logSpans) error {
	if iw.err == nil {
		// The log's spans, which a start from a whole file would
		// otherwise read from every record's header.
		b := binary.LittleEndian.AppendUint64(iw.buf[:0], uint64(len(spans)))
		for _, sp := range spans {
			b = binary.LittleEndian.AppendUint64(b, sp.first)
			b = binary.LittleEndian.AppendUint64(b, uint64(sp.start))
			b = binary.LittleEndian.AppendUint64(b, uint64(sp.last))
			b = binary.LittleEndian.AppendUint64(b, sp.events)
		}
		_, iw.err = iw.w.Write(b)
	}
	if iw.err == nil {
		iw.err = iw.w.Flush()
	}
	if iw.err == nil {
		_, iw.err = iw.f.Write(binary.LittleEndian.AppendUint32(nil, iw.crc.Sum32()))
	}
	// No fsync: the file only saves a start some work. Should the machine
	// lose it half written, its checksum refuses it and the start rebuilds
	// the index; an fsync of a gigabyte would slow every shutdown.
	iw.close()
	if iw.err == nil {
		iw.err = os.Rename(iw.tmp, iw.path)
	}
	if iw.err != nil {
		os.Remove(iw.tmp)
		return fmt.Errorf("write index file: %w", iw.err)
	}
	return nil
}

func (iw *indexWriter) close() {
	if iw.f == nil {
		return
	}
	if err := iw.f.Close(); iw.err == nil {
		iw.err = err
	}
	iw.f = nil
}

// abort gives up a write that finish did not end: it removes the
// temporary file.
func (iw *indexWriter) abort() {
	if iw.f != nil {
		iw.close()
		os.Remove(iw.tmp)
	}
}

// writeIndexFile writes the whole dedupe index for a log whose next record
// is next. The committer must be stopped.
func (db *DB) writeIndexFile(next uint64) error {
	db.indexFileMu.Lock()
	defer db.indexFileMu.Unlock()
	iw := newIndexWriter(filepath.Dir(db.path), IndexFileName+".tmp", db.seen.seed)
	for i := range db.seen.shards {
		iw.shard(next, db.seen.shards[i].slots, db.seen.shards[i].n)
	}
	return iw.finish(db.spans)
}

// indexFromFile is what a start took from the index file.
type indexFromFile struct {
	loaded bool
	// from is, per shard, the first log record the file does not cover;
	// first is the least of them.
	from  [dedupeShards]uint64
	first uint64
	// whole is set when the file covers the whole log: its spans are
	// the log's.
	whole bool
}

// covers reports whether the file's shard for key covers record seq.
func (x *indexFromFile) covers(key, seq uint64) bool {
	return x.loaded && seq < x.from[key%dedupeShards]
}

// readIndexFile loads the dedupe index from its file, if there is one
// written with the index's seed that claims no record beyond the log's
// end (next). On a refusal the index is as it was, and db.indexFileRefused
// says why.
func (db *DB) readIndexFile(next uint64) (indexFromFile, error) {
	path := filepath.Join(filepath.Dir(db.path), IndexFileName)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return indexFromFile{}, nil
	}
	if err != nil {
		return indexFromFile{}, fmt.Errorf("read index file: %w", err)
	}
	defer f.Close()
	shards, x, spans, err := readIndex(f, db.seen.seed, next)
	if err != nil {
		db.indexFileRefused = err
		return indexFromFile{}, nil
	}
	db.seen.shards = *shards
	// The spans of the records the file covers; a start reads those of
	// the later ones from the log.
	db.spans = spans.before(x.first)
	return x, nil
}

// indexChunkSlots is how many slots the index file is read and written
// by at a time.
const indexChunkSlots = 1 << 16

// readIndex reads an index file's shards and the log's spans, checking its
// magic, seed, records and CRC.
func readIndex(f io.Reader, seed, next uint64) (*[dedupeShards]dedupeTable, indexFromFile, logSpans, error) {
	var x indexFromFile
	r := bufio.NewReaderSize(f, 1<<20)
	var crc uint32
	read := func(b []byte) error {
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("index file: %w", err)
		}
		crc = crc32.Update(crc, castagnoliTable, b)
		return nil
	}
	head := make([]byte, 16)
	if err := read(head); err != nil {
		return nil, x, nil, err
	}
	if [8]byte(head[:8]) != indexMagic {
		return nil, x, nil, fmt.Errorf("index file: %w", errCorrupt)
	}
	if binary.LittleEndian.Uint64(head[8:]) != seed {
		return nil, x, nil, errStaleIndex
	}
	var shards [dedupeShards]dedupeTable
	buf := make([]byte, 8*indexChunkSlots)
	x.first, x.whole = next, true
	for i := range shards {
		head := buf[:24]
		if err := read(head); err != nil {
			return nil, x, nil, err
		}
		from, size, n := binary.LittleEndian.Uint64(head), binary.LittleEndian.Uint64(head[8:]), binary.LittleEndian.Uint64(head[16:])
		if size < minTableSize || size&(size-1) != 0 || size > 1<<32 || n*4 > size*3 {
			return nil, x, nil, fmt.Errorf("index file shard %d: %w", i, errCorrupt)
		}
		if from > next {
			return nil, x, nil, fmt.Errorf("%w: shard %d covers the log up to record %d, the log ends before %d", errStaleIndex, i, from, next)
		}
		x.from[i], x.first, x.whole = from, min(x.first, from), x.whole && from == next
		shards[i] = dedupeTable{slots: makeSlots(int(size)), n: int(n), stagger: uint8(i)}
		// Read straight into the table: the file's layout is memory's on
		// a little-endian machine (decoding each slot took two thirds of
		// a start from the file). By chunks, so that the checksum reads
		// each while it is in the cache.
		for chunk := range slices.Chunk(slotBytes(shards[i].slots), 8*indexChunkSlots) {
			if err := read(chunk); err != nil {
				return nil, x, nil, err
			}
		}
		if !littleEndian {
			for j, s := range shards[i].slots {
				shards[i].slots[j] = bits.ReverseBytes64(s)
			}
		}
	}
	count := make([]byte, 8)
	if err := read(count); err != nil {
		return nil, x, nil, err
	}
	n := binary.LittleEndian.Uint64(count)
	if n > 1<<24 {
		return nil, x, nil, fmt.Errorf("index file spans: %w", errCorrupt)
	}
	b := make([]byte, 32*n)
	if err := read(b); err != nil {
		return nil, x, nil, err
	}
	spans := make(logSpans, n)
	for i := range spans {
		e := b[32*i:]
		spans[i] = logSpan{first: binary.LittleEndian.Uint64(e), start: int64(binary.LittleEndian.Uint64(e[8:])),
			last: int64(binary.LittleEndian.Uint64(e[16:])), events: binary.LittleEndian.Uint64(e[24:])}
	}
	want := crc
	sum := make([]byte, 4)
	if err := read(sum); err != nil {
		return nil, x, nil, err
	}
	if binary.LittleEndian.Uint32(sum) != want {
		return nil, x, nil, fmt.Errorf("index file checksum: %w", errCorrupt)
	}
	x.loaded = true
	return &shards, x, spans, nil
}

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)

// littleEndian is whether this machine stores a uint64 as the index file
// does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// slotBytes returns the memory of slots as bytes.
func slotBytes(slots []uint64) []byte {
	if len(slots) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(slots))), len(slots)*8)
}
