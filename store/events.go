package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// IngestResult counts what became of a batch.
type IngestResult struct {
	Accepted   int
	Duplicates int
	// ByType splits the counts by event type (indexed by monitor.EventType).
	ByType [monitor.MaxEventType + 1]TypeCounts
}

// TypeCounts are the accepted and duplicate events of one type.
type TypeCounts struct {
	Accepted, Duplicates int
}

// Ingest commits valid events durably. An event whose (account, event id)
// was accepted before within the dedupe horizon, or earlier in the same
// batch, is a duplicate and changes nothing. Accounts are created on their
// first event. Ingest returns once the batch is fsynced.
func (db *DB) Ingest(ctx context.Context, events []monitor.Event) (IngestResult, error) {
	var res IngestResult
	o := &op{events: len(events), apply: func(g *group) error {
		if err := db.roomFor(events); err != nil {
			return err
		}
		res = db.ingest(g, events)
		return nil
	}}
	if err := db.submit(ctx, o); err != nil {
		return IngestResult{}, fmt.Errorf("ingest %d events: %w", len(events), err)
	}
	return res, nil
}

func (db *DB) ingest(g *group, events []monitor.Event) IngestResult {
	var res IngestResult
	for i := range events {
		e := &events[i]
		if !db.seen.add(db.seen.key(e.AccountID, e.ID), hourOf(e.OccurredAt)) {
			res.Duplicates++
			res.ByType[e.Type].Duplicates++
			continue
		}
		e.Decide()
		if e.Type == monitor.EventSend {
			db.volume.Add(g.now, 1, db.policy.Bulk)
		}
		a := db.account(g, e.AccountID)
		a.Observe(e, g.now, db.policy)
		db.queueRecipient(g, e)
		g.touched[a.ID] = struct{}{}
		g.log = appendEvent(g.log, e)
		g.logN++
		res.Accepted++
		res.ByType[e.Type].Accepted++
	}
	return res
}

// roomFor refuses a batch that would create more accounts than the limit
// allows, before any of it is applied: a producer that retries it loses
// nothing, and an operator who raises the limit gets every event. The
// caller holds the write lock.
func (db *DB) roomFor(events []monitor.Event) error {
	// Far from the limit no batch can reach it: spare the committer a look
	// at every event.
	if db.maxAccounts == 0 || len(db.accounts)+len(events) <= db.maxAccounts {
		return nil
	}
	var fresh map[string]struct{}
	for i := range events {
		id := events[i].AccountID
		if _, ok := db.accounts[id]; ok {
			continue
		}
		if fresh == nil {
			fresh = make(map[string]struct{})
		}
		fresh[id] = struct{}{}
		if len(db.accounts)+len(fresh) > db.maxAccounts {
			return fmt.Errorf("account %q is new: %w", id, ErrAccountLimit)
		}
	}
	return nil
}

// account returns the live account id, creating it if it is new.
// The caller holds the write lock.
func (db *DB) account(g *group, id string) *monitor.Account {
	a, ok := db.accounts[id]
	if !ok {
		a = monitor.NewAccount(id, g.now, db.policy)
		db.accounts[id] = a
		g.saved[id] = struct{}{}
	}
	return a
}

func hourOf(t time.Time) uint32 { return uint32(t.Unix() / 3600) }

// Prune forgets what lies beyond the dedupe horizon at now: log records that
// can only hold events older than it, and their dedupe keys. Events that old
// are refused at ingest, so nothing they could match can arrive. It works
// one dedupe shard per commit group, so ingestion goes on in between.
func (db *DB) Prune(ctx context.Context, now time.Time) error {
	horizon := now.Add(-db.limits.DedupeHorizon)
	for shard := range dedupeShards {
		o := &op{at: now, apply: func(g *group) error {
			db.seen.forget(shard, hourOf(horizon))
			if shard == dedupeShards-1 {
				// An event accepted at t occurred at most MaxClockSkew after t.
				g.pruneBefore = horizon.Add(-db.limits.MaxClockSkew)
			}
			return nil
		}}
		if err := db.submit(ctx, o); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
	}
	return nil
}

// replay rebuilds the windows and the dedupe set from the log and returns
// how many events it counted. It is the whole of start-up time, so it reads
// the log in place without allocating per event.
func (db *DB) replay(tx *bbolt.Tx, now time.Time) (int, error) {
	horizon := now.Add(-db.limits.DedupeHorizon).UnixNano()
	events := tx.Bucket(bucketEvents)
	// Size the dedupe set once from the record headers instead of letting
	// it grow (and rehash) through tens of millions of inserts.
	total := 0
	if err := events.ForEach(func(k, v []byte) error {
		_, n, _, err := decodeLogHeader(v)
		total += n
		return err
	}); err != nil {
		return 0, fmt.Errorf("count logged events: %w", err)
	}
	db.seen.reserve(total)
	var s skimmedEvent
	count := 0
	err := events.ForEach(func(k, v []byte) error {
		acceptedAt, n, rest, err := decodeLogHeader(v)
		if err != nil {
			return fmt.Errorf("log record %x: %w", k, err)
		}
		for range n {
			if rest, err = skimEvent(rest, &s); err != nil {
				return fmt.Errorf("log record %x: %w", k, err)
			}
			if s.event.OccurredAt.UnixNano() < horizon {
				continue
			}
			db.seen.add(db.seen.keyBytes(s.accountID, s.id), hourOf(s.event.OccurredAt))
			a, ok := db.accounts[string(s.accountID)]
			if !ok {
				// Every account record is written with its first event;
				// recreate it rather than lose the counts.
				a = monitor.NewAccount(string(s.accountID), acceptedAt, db.policy)
				db.accounts[a.ID] = a
			}
			if s.event.Type == monitor.EventSend {
				db.volume.Add(acceptedAt, 1, db.policy.Bulk)
			}
			a.Observe(&s.event, acceptedAt, db.policy)
			count++
		}
		return nil
	})
	return count, err
}

// pruneLog deletes the log records accepted before cutoff; the log is in
// acceptance order, so it stops at the first younger record.
func pruneLog(tx *bbolt.Tx, cutoff time.Time) error {
	c := tx.Bucket(bucketEvents).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		acceptedAt, _, _, err := decodeLogHeader(v)
		if err != nil {
			return fmt.Errorf("prune log record %x: %w", k, err)
		}
		if !acceptedAt.Before(cutoff) {
			return nil
		}
		if err := c.Delete(); err != nil {
			return fmt.Errorf("prune log record %x: %w", k, err)
		}
	}
	return nil
}

// The log record: a version byte, the acceptance time (unix nanoseconds,
// varint), the number of events (uvarint), then the events.
const logVersion = 1

var errCorrupt = errors.New("corrupt record")

func encodeLogRecord(acceptedAt time.Time, n int, events []byte) []byte {
	buf := make([]byte, 0, len(events)+1+2*binary.MaxVarintLen64)
	buf = append(buf, logVersion)
	buf = binary.AppendVarint(buf, acceptedAt.UnixNano())
	buf = binary.AppendUvarint(buf, uint64(n))
	return append(buf, events...)
}

func decodeLogHeader(v []byte) (acceptedAt time.Time, n int, rest []byte, err error) {
	if len(v) == 0 || v[0] != logVersion {
		return time.Time{}, 0, nil, fmt.Errorf("%w: unknown log version", errCorrupt)
	}
	d := decoder{buf: v[1:]}
	acceptedAt = time.Unix(0, d.varint()).UTC()
	n = int(d.uvarint())
	return acceptedAt, n, d.buf, d.err
}
