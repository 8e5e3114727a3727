package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"go.etcd.io/bbolt"
)

// Recipient records change at random places of a large tree: put one by
// one, each hard bounce had the writer read a random leaf of
// bucketRecipients into a node and write it back, the largest cost ingest
// had that the ceiling server does not (skipping those puts, as a
// measurement, gave +20-35 % events/s). Instead the writer keeps the
// records its commits change in memory, in a recipientOverlay, journals
// them in the same transaction under sequential keys, and merges them into
// bucketRecipients in key order, a chunk per commit, once enough have
// gathered: a leaf is then rewritten once per merge, not once per change.
//
// A generation is the records journaled into one bucket inside
// bucketRecipientJournal (named by its number, 8 bytes big-endian). The
// writer adds to the current generation; once it holds Options.RecipientJournal
// changes, it is frozen and merged over the following commits, and the
// commit that merges its last record deletes its journal. Reads look in
// the current generation, then the frozen one, then the tree. A start
// loads every journal bucket: the last is the current generation, and
// those before it (a merge the stop interrupted) are frozen together and
// merged again, which writes the same records.
var bucketRecipientJournal = []byte("recipient_journal")

const (
	// defaultRecipientJournal is how many recipient changes a generation
	// gathers before it is merged: 64Ki records are about 10 MB of memory
	// and a few tens of milliseconds of a start.
	defaultRecipientJournal = 1 << 16
	// mergeChunk is how many records one commit merges, at least.
	mergeChunk = 4096
)

// recipientOverlay holds the recipient records changed since they were
// last merged into the tree. Only the writer changes it, and only after
// the commit that journaled a change (so that reads never show what a
// crash could take back); readers take mu.
type recipientOverlay struct {
	mu      sync.RWMutex
	current *overlayGen
	frozen  *overlayGen // being merged; nil when no merge is under way
	limit   int         // the changes at which the current generation is frozen
	chunk   int         // the records a commit merges

	// The merge's position, owned by the writer: the accounts of the
	// frozen generation left to merge, in order, and the recipient keys
	// left of the first of them.
	mergeAccounts []string
	mergeKeys     []string
}

// overlayGen is one generation of recipient records.
type overlayGen struct {
	last    uint64                       // the last journal bucket it spans
	records map[string]map[string][]byte // account id -> recipient key -> record
	n       int                          // records
	changes int                          // journal entries it has
}

func newOverlayGen(journal uint64) *overlayGen {
	return &overlayGen{last: journal, records: make(map[string]map[string][]byte)}
}

func (g *overlayGen) set(accountID, key string, record []byte) {
	m := g.records[accountID]
	if m == nil {
		m = make(map[string][]byte)
		g.records[accountID] = m
	}
	if _, ok := m[key]; !ok {
		g.n++
	}
	m[key] = record
}

func (g *overlayGen) get(accountID, key string) ([]byte, bool) {
	if g == nil {
		return nil, false
	}
	v, ok := g.records[accountID][key]
	return v, ok
}

// splitRecipientKey splits a key of bucketRecipients into the account id
// and the recipient key.
func splitRecipientKey(key []byte) (accountID, recipient []byte) {
	accountID, recipient, _ = bytes.Cut(key, []byte{0})
	return accountID, recipient
}

// storedRecipient returns the record of a recipient key as the writer sees
// it: changed by the group, in the overlay, or in the tree (nil if none).
// Only the writer calls it.
func (db *DB) storedRecipient(tree *bbolt.Bucket, g *group, key []byte) []byte {
	if v, ok := g.recipientRecords[string(key)]; ok {
		return v
	}
	if v, ok := db.overlay.newest(key); ok {
		return v
	}
	return tree.Get(key)
}

// newest returns the overlay's record of a key of bucketRecipients. Only
// the writer, or Open before it starts, calls it.
func (o *recipientOverlay) newest(key []byte) ([]byte, bool) {
	account, recipient := splitRecipientKey(key)
	if v, ok := o.current.get(string(account), string(recipient)); ok {
		return v, true
	}
	return o.frozen.get(string(account), string(recipient))
}

// each calls fn with every record of the overlay, by key of
// bucketRecipients, the newest of each key only. Only Open calls it.
func (o *recipientOverlay) each(fn func(key, record []byte) error) error {
	for _, gen := range []*overlayGen{o.current, o.frozen} {
		if gen == nil {
			continue
		}
		for account, records := range gen.records {
			for recipient, record := range records {
				if gen == o.frozen {
					if _, newer := o.current.get(account, recipient); newer {
						continue
					}
				}
				if err := fn(recipientKey(account, recipient), record); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// journalRecipients appends the records the group changed to the current
// generation's journal.
func (db *DB) journalRecipients(tx *bbolt.Tx, g *group) error {
	if len(g.recipientRecords) == 0 {
		return nil
	}
	journal, err := tx.Bucket(bucketRecipientJournal).CreateBucketIfNotExists(seqKey(db.overlay.current.last))
	if err != nil {
		return fmt.Errorf("recipient journal: %w", err)
	}
	// Bucket-local keys that only grow: each put appends.
	journal.FillPercent = 1
	seq := uint64(db.overlay.current.changes)
	for key, record := range g.recipientRecords {
		v := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen16+len(key)+len(record)), uint64(len(key)))
		v = append(append(v, key...), record...)
		if err := journal.Put(seqKey(seq), v); err != nil {
			return fmt.Errorf("journal recipient %q: %w", key, err)
		}
		seq++
	}
	return nil
}

// mergeRecipients merges the next chunk of the frozen generation into the
// tree, and, with its last record, deletes its journal; with no merge
// under way, it has the group freeze the current generation once that is
// full.
func (db *DB) mergeRecipients(tx *bbolt.Tx, g *group) error {
	o := db.overlay
	if o.frozen == nil {
		g.freezeRecipients = o.current.changes >= o.limit
		return nil
	}
	tree := tx.Bucket(bucketRecipients)
	// Twice what the group journaled, at least: the frozen generation
	// drains faster than the current one fills, which bounds both.
	for n := 0; n < max(o.chunk, 2*len(g.recipientRecords)); n++ {
		for len(o.mergeKeys) == 0 && len(o.mergeAccounts) > 0 {
			o.mergeKeys = slices.Sorted(maps.Keys(o.frozen.records[o.mergeAccounts[0]]))
			if len(o.mergeKeys) == 0 {
				o.mergeAccounts = o.mergeAccounts[1:]
			}
		}
		if len(o.mergeKeys) == 0 {
			break
		}
		account, key := o.mergeAccounts[0], o.mergeKeys[0]
		if err := tree.Put(recipientKey(account, key), o.frozen.records[account][key]); err != nil {
			return fmt.Errorf("merge recipient %q of %s: %w", key, account, err)
		}
		if o.mergeKeys = o.mergeKeys[1:]; len(o.mergeKeys) == 0 {
			o.mergeAccounts = o.mergeAccounts[1:]
		}
	}
	if len(o.mergeAccounts) > 0 {
		return nil
	}
	journals := tx.Bucket(bucketRecipientJournal)
	var merged [][]byte
	err := journals.ForEachBucket(func(k []byte) error {
		if decodeSeq(k) <= o.frozen.last {
			merged = append(merged, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recipient journals: %w", err)
	}
	for _, k := range merged {
		if err := journals.DeleteBucket(k); err != nil {
			return fmt.Errorf("delete recipient journal %d: %w", decodeSeq(k), err)
		}
	}
	g.mergedRecipients = true
	return nil
}

// recipientsCommitted makes the group's recipient changes visible, once
// they are durable, and moves the generations on.
func (db *DB) recipientsCommitted(g *group) {
	o := db.overlay
	if len(g.recipientRecords) == 0 && !g.mergedRecipients && !g.freezeRecipients {
		return
	}
	o.mu.Lock()
	for key, record := range g.recipientRecords {
		account, recipient := splitRecipientKey([]byte(key))
		o.current.set(string(account), string(recipient), record)
	}
	o.current.changes += len(g.recipientRecords)
	if g.mergedRecipients {
		o.frozen = nil
	}
	if g.freezeRecipients {
		o.frozen, o.current = o.current, newOverlayGen(o.current.last+1)
	}
	o.mu.Unlock()
	if g.freezeRecipients {
		o.mergeAccounts = slices.Sorted(maps.Keys(o.frozen.records))
	}
}

// loadRecipientJournal fills the overlay from the journal at a start.
func (db *DB) loadRecipientJournal(tx *bbolt.Tx) error {
	o := &recipientOverlay{limit: db.overlay.limit, chunk: db.overlay.chunk}
	var numbers []uint64
	journals := tx.Bucket(bucketRecipientJournal)
	err := journals.ForEachBucket(func(k []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("recipient journal %x: %w", k, errCorrupt)
		}
		numbers = append(numbers, decodeSeq(k))
		return nil
	})
	if err != nil {
		return err
	}
	if len(numbers) == 0 {
		o.current = newOverlayGen(1)
		db.overlay = o
		return nil
	}
	last := numbers[len(numbers)-1]
	o.current = newOverlayGen(last)
	if len(numbers) > 1 {
		o.frozen = newOverlayGen(numbers[len(numbers)-2])
	}
	for _, n := range numbers {
		gen := o.frozen
		if n == last {
			gen = o.current
		}
		err := journals.Bucket(seqKey(n)).ForEach(func(k, v []byte) error {
			keyLen, size := binary.Uvarint(v)
			if size <= 0 || uint64(len(v)-size) < keyLen {
				return fmt.Errorf("recipient journal %d entry %x: %w", n, k, errCorrupt)
			}
			account, recipient := splitRecipientKey(v[size : size+int(keyLen)])
			gen.set(string(account), string(recipient), bytes.Clone(v[size+int(keyLen):]))
			gen.changes++
			return nil
		})
		if err != nil {
			return err
		}
	}
	if o.frozen != nil {
		o.mergeAccounts = slices.Sorted(maps.Keys(o.frozen.records))
	}
	db.overlay = o
	return nil
}

// lookup puts in out[i] the overlay's record of keys[i] of accountID, and
// returns how many it found.
func (o *recipientOverlay) lookup(accountID string, keys []string, out [][]byte) int {
	o.mu.RLock()
	defer o.mu.RUnlock()
	current := o.current.records[accountID]
	var frozen map[string][]byte
	if o.frozen != nil {
		frozen = o.frozen.records[accountID]
	}
	if current == nil && frozen == nil {
		return 0
	}
	found := 0
	for i, k := range keys {
		if v, ok := current[k]; ok {
			out[i] = v
			found++
		} else if v, ok := frozen[k]; ok {
			out[i] = v
			found++
		}
	}
	return found
}

// overlayRecord is one recipient record of the overlay.
type overlayRecord struct {
	key    string // the recipient key
	record []byte
}

// after returns the overlay's records of accountID whose keys come after
// the key after, in key order. They are sorted once the lock is let go: a
// commit waits for it to publish its records, and CheckRecipients behind
// the commit.
func (o *recipientOverlay) after(accountID, after string) []overlayRecord {
	out := o.collect(accountID, after)
	slices.SortFunc(out, func(a, b overlayRecord) int { return strings.Compare(a.key, b.key) })
	return out
}

func (o *recipientOverlay) collect(accountID, after string) []overlayRecord {
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []overlayRecord
	add := func(m map[string][]byte, skip map[string][]byte) {
		for k, v := range m {
			if _, newer := skip[k]; !newer && k > after {
				out = append(out, overlayRecord{k, v})
			}
		}
	}
	current := o.current.records[accountID]
	add(current, nil)
	if o.frozen != nil {
		add(o.frozen.records[accountID], current)
	}
	return out
}

// RecipientJournalStats reports the recipient records held in memory: those
// of the current generation, and those of the one being merged (0 when
// no merge is under way).
func (db *DB) RecipientJournalStats() (current, merging int) {
	o := db.overlay
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.frozen != nil {
		merging = o.frozen.n
	}
	return o.current.n, merging
}
