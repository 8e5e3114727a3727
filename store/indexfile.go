package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// A clean shutdown writes the dedupe index to a file beside the store, so
// that the next start reads it in one sequential pass instead of rebuilding
// it from every record's header (tens of millions of random inserts, most
// of a start). The file says up to which log record it indexes; a start
// uses it only if the log ends there, and removes it before it accepts
// anything, so that an index older than the log is never used. After a
// crash there is no file, and the start rebuilds the index.
//
// Layout, little-endian: the magic, the hash seed, the next log record
// number, then for each shard its slot count and key count, then every
// shard's slots, then the log's spans (their count, then first record,
// start and last of each), then a CRC-32C of all that.

// IndexFileName is the dedupe index's file inside the data directory.
const IndexFileName = "dedupe.idx"

var indexMagic = [8]byte{'d', 'p', 'm', 'i', 'd', 'x', '0', '1'}

// errStaleIndex is why an index file is not used: it does not end where
// the log does, or it was written with another seed.
var errStaleIndex = errors.New("the index file does not match the log")

// writeIndexFile writes the dedupe index for a log whose next record is
// next, to a temporary file renamed into place once written.
func (db *DB) writeIndexFile(next uint64) error {
	path := filepath.Join(filepath.Dir(db.path), IndexFileName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write index file: %w", err)
	}
	defer os.Remove(tmp) // after the rename, a no-op
	crc := crc32.New(castagnoliTable)
	w := bufio.NewWriterSize(io.MultiWriter(f, crc), 1<<20)
	head := append([]byte{}, indexMagic[:]...)
	head = binary.LittleEndian.AppendUint64(head, db.seen.seed)
	head = binary.LittleEndian.AppendUint64(head, next)
	for i := range db.seen.shards {
		head = binary.LittleEndian.AppendUint64(head, uint64(len(db.seen.shards[i].slots)))
		head = binary.LittleEndian.AppendUint64(head, uint64(db.seen.shards[i].n))
	}
	_, err = w.Write(head)
	buf := make([]byte, 0, 8*indexChunkSlots)
	for i := range db.seen.shards {
		for chunk := range slices.Chunk(db.seen.shards[i].slots, indexChunkSlots) {
			if err != nil {
				break
			}
			buf = buf[:0]
			for _, s := range chunk {
				buf = binary.LittleEndian.AppendUint64(buf, s)
			}
			_, err = w.Write(buf)
		}
	}
	if err == nil {
		// The log's spans, which a start would otherwise read from every
		// record's header.
		buf = binary.LittleEndian.AppendUint64(buf[:0], uint64(len(db.spans)))
		for _, sp := range db.spans {
			buf = binary.LittleEndian.AppendUint64(buf, sp.first)
			buf = binary.LittleEndian.AppendUint64(buf, uint64(sp.start))
			buf = binary.LittleEndian.AppendUint64(buf, uint64(sp.last))
		}
		_, err = w.Write(buf)
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		_, err = f.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	}
	// No fsync: the file only saves a start some work. Should the machine
	// lose it half written, its checksum refuses it and the start rebuilds
	// the index; an fsync of a gigabyte would slow every shutdown.
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write index file: %w", err)
	}
	return nil
}

// readIndexFile loads the dedupe index from its file if there is one that
// ends where the log does (next) and was written with the index's seed,
// and removes the file either way. It reports whether the index was
// loaded; on false the index is as it was.
func (db *DB) readIndexFile(next uint64) (bool, error) {
	path := filepath.Join(filepath.Dir(db.path), IndexFileName)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read index file: %w", err)
	}
	defer f.Close()
	// Whatever comes of it, the file describes the log as it is now only:
	// it must be gone before anything is accepted.
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("remove index file: %w", err)
	}
	shards, spans, err := readIndex(f, db.seen.seed, next)
	if err != nil {
		db.indexFileRefused = err
		return false, nil
	}
	db.seen.shards, db.spans = *shards, spans
	return true, nil
}

// indexChunkSlots is how many slots the index file is read and written
// by at a time.
const indexChunkSlots = 1 << 16

// readIndex reads an index file's shards and the log's spans, checking its
// header and CRC.
func readIndex(f io.Reader, seed, next uint64) (*[dedupeShards]dedupeTable, logSpans, error) {
	r := bufio.NewReaderSize(f, 1<<20)
	var crc uint32
	read := func(b []byte) error {
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("index file: %w", err)
		}
		crc = crc32.Update(crc, castagnoliTable, b)
		return nil
	}
	head := make([]byte, 8+8+8+16*dedupeShards)
	if err := read(head); err != nil {
		return nil, nil, err
	}
	if [8]byte(head[:8]) != indexMagic {
		return nil, nil, fmt.Errorf("index file: %w", errCorrupt)
	}
	if binary.LittleEndian.Uint64(head[8:]) != seed || binary.LittleEndian.Uint64(head[16:]) != next {
		return nil, nil, errStaleIndex
	}
	var shards [dedupeShards]dedupeTable
	for i := range shards {
		size := binary.LittleEndian.Uint64(head[24+16*i:])
		n := binary.LittleEndian.Uint64(head[32+16*i:])
		if size < minTableSize || size&(size-1) != 0 || size > 1<<32 || n*4 > size*3 {
			return nil, nil, fmt.Errorf("index file shard %d: %w", i, errCorrupt)
		}
		shards[i] = dedupeTable{slots: makeSlots(int(size)), n: int(n)}
	}
	buf := make([]byte, 8*indexChunkSlots)
	for i := range shards {
		for chunk := range slices.Chunk(shards[i].slots, indexChunkSlots) {
			b := buf[:8*len(chunk)]
			if err := read(b); err != nil {
				return nil, nil, err
			}
			for j := range chunk {
				chunk[j] = binary.LittleEndian.Uint64(b[8*j:])
			}
		}
	}
	count := make([]byte, 8)
	if err := read(count); err != nil {
		return nil, nil, err
	}
	n := binary.LittleEndian.Uint64(count)
	if n > 1<<24 {
		return nil, nil, fmt.Errorf("index file spans: %w", errCorrupt)
	}
	b := make([]byte, 24*n)
	if err := read(b); err != nil {
		return nil, nil, err
	}
	spans := make(logSpans, n)
	for i := range spans {
		spans[i] = logSpan{first: binary.LittleEndian.Uint64(b[24*i:]), start: int64(binary.LittleEndian.Uint64(b[24*i+8:])),
			last: int64(binary.LittleEndian.Uint64(b[24*i+16:]))}
	}
	want := crc
	sum := make([]byte, 4)
	if err := read(sum); err != nil {
		return nil, nil, err
	}
	if binary.LittleEndian.Uint32(sum) != want {
		return nil, nil, fmt.Errorf("index file checksum: %w", errCorrupt)
	}
	return &shards, spans, nil
}

var castagnoliTable = crc32.MakeTable(crc32.Castagnoli)
