package store

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
)

// SaveIndex writes the dedupe index to its file while the store runs, so
// that a start after a crash reads it and indexes from the log only the
// records logged since, instead of every record of the horizon (4-5 s at
// 50 million ids). Each shard is copied by an op of its own, a few
// milliseconds' hold of the committer at most, and written to the file
// between ops; the file replaces the last one only once complete.
func (db *DB) SaveIndex(ctx context.Context) error {
	db.indexFileMu.Lock()
	defer db.indexFileMu.Unlock()
	iw := newIndexWriter(filepath.Dir(db.path), IndexFileName+".save.tmp", db.seen.seed)
	defer iw.abort()
	if iw.err != nil {
		return fmt.Errorf("save index: %w", iw.err)
	}
	var (
		slots []uint64
		n     int
		from  uint64
		spans logSpans
	)
	for shard := range dedupeShards {
		o := &op{apply: func(*group) error {
			t := &db.seen.shards[shard]
			slots, n = append(slots[:0], t.slots...), t.n
			// The shard holds the ids of every record applied so far;
			// a start indexes those not yet durable again from the log,
			// should the crash have spared them.
			from = db.durableLog.Load() + 1
			if shard == dedupeShards-1 {
				spans = slices.Clone(db.spans)
			}
			return nil
		}}
		if err := db.submit(ctx, o); err != nil {
			return fmt.Errorf("save index: %w", err)
		}
		iw.shard(from, slots, n)
	}
	return iw.finish(spans)
}
