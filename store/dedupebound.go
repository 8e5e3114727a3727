package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// The dedupe index may be bounded (Options.DedupeMemory): once it holds
// more ids than fit, trimIndex forgets the ids of the oldest log records
// (the records themselves stay, for the horizon) until it holds at most
// nine tenths of the bound, and raises the dedupe floor: an event that
// occurred before it is refused, as one beyond the horizon is, since a
// repeat of a forgotten event would no longer be recognised. Every
// accepted event is still counted exactly once; what the bound costs is
// how late an event may arrive. The floor is saved with the commit group
// that raises it, before any id is forgotten, so a start from a saved
// index never remembers less than its floor says.

// dedupeBytesPerID is the most memory an id of the index takes: an 8-byte
// slot in a table at least 5/16 full (see dedupeTable).
const dedupeBytesPerID = 26

// metaDedupeFloor holds the dedupe floor, unix nanoseconds, big-endian.
var metaDedupeFloor = []byte("dedupe_floor")

// maybeTrimIndex notes the ids the index holds, for DedupeStats, and
// starts trimIndex when they are over the bound and no trim runs. It runs
// on the committer, after the group of instant now.
func (db *DB) maybeTrimIndex(now time.Time) {
	n := db.seen.len()
	db.ids.Store(int64(n))
	if db.maxIDs > 0 && n > db.maxIDs && !now.Before(db.trimAgain) && db.trimming.CompareAndSwap(false, true) {
		go db.trimIndex()
	}
}

// trimIndex forgets the oldest ids, one shard per op as a prune does.
func (db *DB) trimIndex() {
	defer db.trimming.Store(false)
	var first uint64
	for shard := range dedupeShards {
		o := &op{apply: func(g *group) error {
			if shard == 0 {
				var ok bool
				if first, ok = db.planTrim(g); !ok {
					return errNothingToTrim
				}
			}
			db.seen.forget(shard, first, g.logSeq)
			return nil
		}}
		// The store closing ends a trim; the next start trims again.
		if err := db.submit(context.Background(), o); err != nil {
			return
		}
	}
}

var errNothingToTrim = fmt.Errorf("no ids can be forgotten")

// planTrim picks the first log record whose ids the index keeps, and
// raises the floor in g. Records accepted within twice the clock skew
// are always kept: a floor past them would refuse events occurring now.
func (db *DB) planTrim(g *group) (first uint64, ok bool) {
	skew := db.limits.MaxClockSkew
	spans := db.spans
	for len(spans) > 0 && spans[0].first < db.indexFrom {
		spans = spans[1:]
	}
	first, before, ok := spans.keep(uint64(db.maxIDs)*9/10, g.now.Add(-2*skew))
	if !ok {
		// The bound is too small for what arrives within twice the skew:
		// the index stays over it, and tries again in a minute.
		db.trimAgain = g.now.Add(time.Minute)
		return 0, false
	}
	// An event accepted before `before` occurred before before+skew.
	if floor := before.Add(skew).UnixNano(); floor > db.floor.Load() {
		db.floor.Store(floor)
		g.dedupeFloor = floor
	}
	db.indexFrom = first
	return first, true
}

// putDedupeFloor saves a floor the group raised.
func putDedupeFloor(tx *bbolt.Tx, floor int64) error {
	if floor == 0 {
		return nil
	}
	if err := tx.Bucket(bucketMeta).Put(metaDedupeFloor, binary.BigEndian.AppendUint64(nil, uint64(floor))); err != nil {
		return fmt.Errorf("save dedupe floor: %w", err)
	}
	return nil
}

// DedupeStats returns how many event ids the dedupe index remembers, as of
// the last commit group, and the dedupe floor.
func (db *DB) DedupeStats() (ids int, floor time.Time) {
	return int(db.ids.Load()), db.DedupeFloor()
}

// DedupeFloor returns the dedupe floor (see Options.DedupeMemory), or
// the zero time when the index forgot nothing early.
func (db *DB) DedupeFloor() time.Time {
	if f := db.floor.Load(); f != 0 {
		return time.Unix(0, f).UTC()
	}
	return time.Time{}
}
