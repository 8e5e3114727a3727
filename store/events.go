package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// IngestResult counts what became of a batch.
type IngestResult struct {
	Accepted   int
	Duplicates int
	// TooOld are the indexes of the events refused for occurring before
	// the dedupe floor, raised since the caller validated them (see
	// monitor.Limits.DedupeFloor).
	TooOld []int
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
	return db.ingestPrepared(ctx, events, db.prepare(events))
}

func (db *DB) ingestPrepared(ctx context.Context, events []monitor.Event, pre prepared) (IngestResult, error) {
	var res IngestResult
	o := &op{events: len(events), apply: func(g *group) error {
		if err := db.roomFor(events); err != nil {
			return err
		}
		var err error
		if res, err = db.ingest(g, events, pre); err != nil {
			// Part of the batch is applied in memory and cannot be
			// taken back: stop writing, so that a restart rebuilds.
			db.fail(err)
		}
		return err
	}}
	if err := db.submit(ctx, o); err != nil {
		return IngestResult{}, fmt.Errorf("ingest %d events: %w", len(events), err)
	}
	return res, nil
}

// prepared is what an ingest's caller works out for its batch before
// handing it to the committer, which serves every stream on one goroutine:
// the events' dedupe keys, and their accounts as they were then, valid
// while DB.accountsGen is still gen (nil for an account not in memory).
type prepared struct {
	keys     []uint64
	accounts []*monitor.Account
	gen      uint64
}

func (db *DB) prepare(events []monitor.Event) prepared {
	p := prepared{keys: db.seen.keysOf(events), accounts: make([]*monitor.Account, len(events))}
	db.mu.RLock()
	defer db.mu.RUnlock()
	p.gen = db.accountsGen
	for i := range events {
		p.accounts[i] = db.accounts[events[i].AccountID]
	}
	return p
}

// ingestChunk is how many events an ingest counts between two chances for
// readers to take the lock (letReadersIn): about 100 µs of work.
const ingestChunk = 128

func (db *DB) ingest(g *group, events []monitor.Event, pre prepared) (IngestResult, error) {
	var res IngestResult
	db.seen.warm(pre.keys)
	hinted := pre.gen == db.accountsGen
	if hinted {
		db.warmAccounts(pre.accounts, (*monitor.Account).WarmCount)
	}
	floor := db.floor.Load()
	for i := range events {
		if i > 0 && i%ingestChunk == 0 {
			db.letReadersIn()
		}
		e := &events[i]
		if floor != 0 && e.OccurredAt.UnixNano() < floor {
			res.TooOld = append(res.TooOld, i)
			continue
		}
		key := pre.keys[i]
		if g.cands = db.seen.add(key, uint32(g.logSeq), g.cands[:0]); len(g.cands) > 0 {
			dup, err := db.duplicate(g, e.AccountID, e.ID, g.cands)
			if err != nil {
				return res, err
			}
			if dup {
				res.Duplicates++
				res.ByType[e.Type].Duplicates++
				continue
			}
			db.seen.insert(key, uint32(g.logSeq))
		}
		g.remember(e.AccountID, e.ID)
		e.Decide()
		a := pre.accounts[i]
		if a == nil || !hinted {
			var err error
			if a, err = db.account(g, e.AccountID); err != nil {
				return res, err
			}
		}
		if g.d.Count(a, e) {
			db.queueRecipient(g, e)
		}
		g.touched[a] = struct{}{}
		g.events = appendEvent(g.events, e)
		g.hashes = binary.LittleEndian.AppendUint64(g.hashes, key)
		g.logN++
		res.Accepted++
		res.ByType[e.Type].Accepted++
	}
	return res, nil
}

// roomFor refuses a batch that would create more accounts than the limit
// allows, before any of it is applied: a producer that retries it loses
// nothing, and an operator who raises the limit gets every event. The
// caller holds the write lock.
func (db *DB) roomFor(events []monitor.Event) error {
	// Far from the limit no batch can reach it: spare the committer a look
	// at every event.
	if db.maxAccounts == 0 || db.known()+len(events) <= db.maxAccounts {
		return nil
	}
	var fresh map[string]struct{}
	for i := range events {
		id := events[i].AccountID
		if _, ok := fresh[id]; ok {
			continue
		}
		if _, ok := db.accounts[id]; ok || db.stored(id) {
			continue
		}
		if fresh == nil {
			fresh = make(map[string]struct{})
		}
		fresh[id] = struct{}{}
		if db.known()+len(fresh) > db.maxAccounts {
			return fmt.Errorf("account %q is new: %w", id, ErrAccountLimit)
		}
	}
	return nil
}

// account returns the live account id, creating it if it is new.
// The caller holds the write lock.
func (db *DB) account(g *group, id string) (*monitor.Account, error) {
	a, ok, err := db.live(g, id)
	if err != nil || ok {
		return a, err
	}
	a = monitor.NewAccount(id, g.now, db.policy)
	db.accounts[id] = a
	db.createAccount(g, id)
	return a, nil
}

// Prune forgets what lies beyond the dedupe horizon at now: log records that
// can only hold events older than it, and their dedupe keys. Events that old
// are refused at ingest, so nothing they could match can arrive. It works
// one dedupe shard per commit group, so ingestion goes on in between.
func (db *DB) Prune(ctx context.Context, now time.Time) error {
	// An event accepted at t occurred at most MaxClockSkew after t.
	cutoff := now.Add(-db.limits.DedupeHorizon).Add(-db.limits.MaxClockSkew)
	var first uint64
	for shard := range dedupeShards {
		o := &op{at: now, apply: func(g *group) error {
			if shard == 0 {
				first = db.spans.prune(cutoff)
			}
			db.seen.forget(shard, first, g.logSeq)
			if shard == dedupeShards-1 {
				g.pruneBefore = cutoff
			}
			return nil
		}}
		if err := db.submit(ctx, o); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
	}
	return nil
}

// The log record: a version byte, the acceptance time (unix nanoseconds,
// varint), the number of events n (uvarint); from version 2 the dedupe
// hash of each event, n little-endian uint64s, so that a start rebuilds the
// dedupe index without reading the events; then the events.
const (
	logVersion1 = 1
	logVersion  = 2
)

var errCorrupt = errors.New("corrupt record")

// encodeLogHead returns a record's header; the hashes and the events
// follow it (see putLog).
func encodeLogHead(acceptedAt time.Time, n int) []byte {
	buf := make([]byte, 0, 1+2*binary.MaxVarintLen64)
	buf = append(buf, logVersion)
	buf = binary.AppendVarint(buf, acceptedAt.UnixNano())
	return binary.AppendUvarint(buf, uint64(n))
}

// decodeLogStart reads from the start of a record when it was accepted,
// how many events it holds and how long its header is.
func decodeLogStart(head []byte) (acceptedAt time.Time, n, headerLen int, err error) {
	if len(head) == 0 || (head[0] != logVersion && head[0] != logVersion1) {
		return time.Time{}, 0, 0, fmt.Errorf("%w: unknown log version", errCorrupt)
	}
	d := decoder{buf: head[1:]}
	at := d.varint()
	count := d.uvarint()
	if d.err != nil || count > 1<<40 {
		return time.Time{}, 0, 0, errCorrupt
	}
	return time.Unix(0, at).UTC(), int(count), len(head) - len(d.buf), nil
}

// decodeLogHeader reads a record's header. hashes is nil in a version 1
// record, which has none.
func decodeLogHeader(v []byte) (acceptedAt time.Time, n int, hashes, rest []byte, err error) {
	acceptedAt, n, header, err := decodeLogStart(v)
	if err != nil {
		return time.Time{}, 0, nil, nil, err
	}
	rest = v[header:]
	if v[0] == logVersion {
		if n > len(rest)/8 {
			return time.Time{}, 0, nil, nil, fmt.Errorf("%w: %d hashes in %d bytes", errCorrupt, n, len(rest))
		}
		hashes, rest = rest[:8*n], rest[8*n:]
	}
	return acceptedAt, n, hashes, rest, nil
}
