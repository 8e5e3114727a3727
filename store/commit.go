package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// op is one write request. apply runs on the committer goroutine with the
// accounts write-locked; it changes the in-memory state and records in the
// group what must be written. done is closed once the group is durable (or
// has failed), and err then holds the outcome.
type op struct {
	apply  func(g *group) error
	events int
	// at, when set, is the instant the op is judged at; such an op is
	// committed in a group of its own (sweeps and tests pass their own now).
	at time.Time
	// final marks the last op of a closing store, which saves a checkpoint
	// so that the next start replays nothing.
	final bool
	err   error
	done  chan struct{}
	// transitions is how many transitions the op's group made.
	transitions int
}

// group collects the effects of the ops committed together.
type group struct {
	seq  uint64
	now  time.Time
	log  []byte // encoded events, see appendEvent
	logN int
	// logSeq is the number of the log record the group's events go to.
	logSeq uint64
	// hashes are the events' dedupe hashes, 8 bytes each, logged with them.
	hashes []byte
	// cands is scratch for the dedupe lookups; own holds the keys of the
	// group's events once a lookup needed them (see ownKeys).
	cands []uint32
	own   map[string]struct{}
	// tallied are the accounts whose tallies must be saved with the group:
	// a change reset them, and a restart must not count from the old ones.
	tallied map[string]struct{}
	// saveAllTallies is set on the last group of a closing store, which
	// saves the tallies of every dirty account.
	saveAllTallies bool
	touched        map[string]struct{} // accounts to judge at the end of the group
	saved          map[string]struct{} // accounts whose record must be written
	// d decides what the group's events and calls change and who is told:
	// its Outcome is what the group writes besides the events.
	d           *monitor.Decider
	pruneBefore time.Time // log records accepted before this are deleted
	// recipients are the per-recipient changes, in the order they came.
	recipients []recipientWork
	// created are the accounts the group created; rested those it put to
	// rest (dormant) and woken those it loaded from disk again.
	created, woken []string
	rested         []restedAccount
	// savedTickets are the tickets whose record must be written, and
	// deletedTickets those whose record must go.
	savedTickets   []string
	deletedTickets []string
	// sweep is set for a sweep's group: it also forgets idle senders and
	// judges reputation scores.
	sweep bool
	// reputation are the daily scores to record.
	reputation []dailyScore
}

// job is a group ready for bbolt.
type job struct {
	seq         uint64
	now         time.Time
	ops         []*op
	logKey      []byte
	log         []byte
	accounts    map[string][]byte
	transitions []encodedTransition
	// made are the transitions in domain form, for the Committed hook.
	made        []monitor.Transition
	events      int
	pruneBefore time.Time
	recipients  []recipientWork
	audit       [][]byte
	tickets     map[string][]byte
	// deletedTickets are the tickets whose records go.
	deletedTickets []string
	outbox         []outboxEntry
	reputation     []dailyScore
	// created is how many accounts the group created.
	created int
	// rested and woken are the accounts to mark and unmark dormant.
	rested []restedAccount
	woken  []string
	// logSeq numbers the group's record when it has one (log != nil).
	logSeq uint64
	// tallies are the accounts' tallies to save; checkpoint, when set, is
	// the checkpoint record that goes with them.
	tallies    map[string][]byte
	checkpoint []byte
	// cleared are the recipient keys the job left no longer pending;
	// filled in by put.
	cleared [][]byte
}

type encodedTransition struct {
	seq       uint64
	accountID string
	value     []byte
}

// submit hands o to the committer and waits until it is durable.
func (db *DB) submit(ctx context.Context, o *op) error {
	if err := db.Err(); err != nil {
		return err
	}
	o.done = make(chan struct{})
	select {
	case db.ops <- o:
	case <-db.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, the op is committed even if the caller goes away: the
	// caller may retry, and dedupe makes the retry harmless.
	select {
	case <-o.done:
		return o.err
	case <-db.stopped:
		select {
		case <-o.done:
			return o.err
		default:
			return ErrClosed
		}
	}
}

// commit is the committer loop: it gathers the queued ops into groups,
// applies them to memory and passes each group to the writer, preparing the
// next group while the writer waits for fsync.
func (db *DB) commit(writerDone chan struct{}) {
	defer func() {
		close(db.writes)
		<-writerDone
		close(db.stopped)
	}()
	var carry *op
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-db.ops:
			case <-db.closing:
				// Finish what was queued before the close, then stop.
				for {
					select {
					case o := <-db.ops:
						db.run([]*op{o})
					default:
						final := &op{final: true, apply: func(*group) error { return nil }, done: make(chan struct{})}
						db.run([]*op{final})
						return
					}
				}
			}
		}
		ops := []*op{first}
		if first.at.IsZero() {
			events := first.events
		gather:
			for events < db.maxGroupEvents {
				select {
				case o := <-db.ops:
					if !o.at.IsZero() {
						carry = o
						break gather
					}
					ops = append(ops, o)
					events += o.events
				default:
					break gather
				}
			}
		}
		db.run(ops)
	}
}

// run applies one group of ops and hands it to the writer.
func (db *DB) run(ops []*op) {
	if err := db.Err(); err != nil {
		for _, o := range ops {
			o.err = err
			close(o.done)
		}
		return
	}
	now := ops[0].at
	if now.IsZero() {
		now = db.clock()
	}
	db.groupSeq++
	g := &group{seq: db.groupSeq, now: now, logSeq: db.nextLogSeq, touched: map[string]struct{}{}, saved: map[string]struct{}{},
		d: monitor.NewDecider(now, &db.policy, &db.volume)}
	// The write lock is taken an op, or a chunk of judgements, at a time:
	// a group of 30,000 events holds it for tens of milliseconds, and
	// readers (CheckSend, on every message a platform sends) must not wait
	// that long. A reader may see some of a group's counts before the
	// rest; what it must not see before the commit (a phase, a new
	// account) is marked unsettled as it is made (see settled.go).
	db.mu.Lock()
	db.forgetSettled()
	db.mu.Unlock()
	for _, o := range ops {
		db.mu.Lock()
		db.pending.mu.Lock()
		o.err = o.apply(g)
		db.pending.mu.Unlock()
		db.mu.Unlock()
	}
	touched := slices.Collect(maps.Keys(g.touched))
	for chunk := range slices.Chunk(touched, stepChunk) {
		db.mu.Lock()
		for _, id := range chunk {
			if a, ok := db.accounts[id]; ok {
				db.step(g, a)
			}
		}
		db.mu.Unlock()
	}
	db.mu.Lock()
	db.planTallies(g, len(ops) == 1 && ops[0].final)
	db.mu.Unlock()
	for _, o := range ops {
		o.transitions = len(g.d.Transitions)
	}

	j, err := db.encode(g)
	j.ops = ops
	if err != nil {
		// Encoding our own records cannot fail short of a bug; the memory
		// is ahead of the disk now, so stop writing.
		db.fail(fmt.Errorf("encode commit group: %w", err))
		j.log, j.accounts, j.transitions, j.tallies, j.checkpoint = nil, nil, nil, nil, nil
	}
	if j.log != nil {
		db.inflight.add(j.logSeq, j.log)
	}
	db.writes <- j
}

// stepChunk is how many accounts are judged under one hold of the lock.
const stepChunk = 512

// step judges one account at the group's instant and records what must
// be saved of it.
func (db *DB) step(g *group, a *monitor.Account) {
	j := g.d.Judge(a, g.sweep)
	if j.Changed {
		db.saveAccount(g, a.ID)
	}
	if j.Forgot {
		db.markDirty(a.ID, g.logSeq)
	}
	if g.sweep {
		db.rest(g, a, j.Moved)
	}
}

// encode turns a group into the bytes the writer puts. Only the committer
// writes accounts, so it may read them without the lock.
func (db *DB) encode(g *group) (*job, error) {
	j := &job{seq: g.seq, now: g.now, created: len(g.created), rested: g.rested, woken: g.woken, deletedTickets: g.deletedTickets, pruneBefore: g.pruneBefore, recipients: g.recipients, made: g.d.Transitions, events: g.logN, reputation: g.reputation,
		accounts: make(map[string][]byte, len(g.saved))}
	if g.logN > 0 {
		j.logSeq, j.logKey = g.logSeq, seqKey(g.logSeq)
		db.nextLogSeq++
		j.log = encodeLogRecord(g.now, g.logN, g.hashes, g.log)
		db.spans.add(g.logSeq, g.now)
	}
	if err := db.encodeTallies(g, j); err != nil {
		return j, err
	}
	for id := range g.saved {
		v, err := encodeAccount(db.accounts[id])
		if err != nil {
			return j, err
		}
		j.accounts[id] = v
	}
	for _, n := range db.routed(g.d.Notifications) {
		v, err := encodeNotification(n)
		if err != nil {
			return j, err
		}
		j.outbox = append(j.outbox, outboxEntry{seq: db.nextOutboxSeq, value: v, receiver: n.Receiver})
		db.nextOutboxSeq++
	}
	for _, id := range g.savedTickets {
		v, err := encodeTicket(db.tickets[id])
		if err != nil {
			return j, err
		}
		if j.tickets == nil {
			j.tickets = make(map[string][]byte)
		}
		j.tickets[id] = v
	}
	for _, e := range g.d.Audit {
		v, err := encodeAudit(e)
		if err != nil {
			return j, err
		}
		j.audit = append(j.audit, v)
	}
	for _, t := range g.d.Transitions {
		v, err := encodeTransition(t)
		if err != nil {
			return j, err
		}
		j.transitions = append(j.transitions, encodedTransition{seq: db.nextTrSeq, accountID: t.AccountID, value: v})
		db.nextTrSeq++
	}
	return j, nil
}

// write is the writer loop: one bbolt transaction, hence one fsync, per job.
func (db *DB) write(done chan struct{}) {
	defer close(done)
	for j := range db.writes {
		err := db.Err()
		if err == nil && !j.empty() {
			if db.beforePut != nil {
				db.beforePut()
			}
			start := time.Now()
			err = db.bolt.Update(func(tx *bbolt.Tx) error { return db.put(tx, j) })
			if j.log != nil {
				db.inflight.remove(j.logSeq)
			}
			if err != nil {
				db.fail(err)
				err = db.Err()
			} else {
				db.clearPending(j)
				if len(j.transitions) > 0 {
					db.transitionsCommitted()
				}
				if len(j.outbox) > 0 {
					db.outboxCommitted(j.outbox)
				}
				db.phases.committed(j.created, j.made)
				if db.committed != nil {
					db.committed(j.events, time.Since(start), j.made)
				}
			}
		}
		if err == nil {
			db.committedGroup(j.seq)
		}
		for _, o := range j.ops {
			if err != nil {
				o.err = err
			}
			close(o.done)
		}
	}
}

// empty reports whether the job has nothing to write, as a sweep that
// changed nothing: it needs no transaction and no fsync.
func (j *job) empty() bool {
	return j.log == nil && len(j.accounts) == 0 && len(j.transitions) == 0 && j.pruneBefore.IsZero() &&
		len(j.tallies) == 0 && j.checkpoint == nil && len(j.deletedTickets) == 0 && len(j.rested) == 0 && len(j.woken) == 0 && len(j.recipients) == 0 && len(j.audit) == 0 && len(j.tickets) == 0 && len(j.outbox) == 0 && len(j.reputation) == 0
}

// put writes a job inside one transaction.
func (db *DB) put(tx *bbolt.Tx, j *job) error {
	if j.log != nil {
		if err := tx.Bucket(bucketEvents).Put(j.logKey, j.log); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
	}
	accounts := tx.Bucket(bucketAccounts)
	// In key order: see putTallies.
	for _, id := range slices.Sorted(maps.Keys(j.accounts)) {
		v := j.accounts[id]
		if err := accounts.Put([]byte(id), v); err != nil {
			return fmt.Errorf("save account %s: %w", id, err)
		}
	}
	if err := putTallies(tx, j); err != nil {
		return err
	}
	if err := putDormant(tx, j); err != nil {
		return err
	}
	if err := putTransitions(tx, j.transitions); err != nil {
		return err
	}
	if err := db.putRecipients(tx, j); err != nil {
		return err
	}
	if err := putAudit(tx, j.audit); err != nil {
		return err
	}
	if err := putOutbox(tx, j.outbox); err != nil {
		return err
	}
	if err := putReputation(tx, j.reputation); err != nil {
		return err
	}
	tickets := tx.Bucket(bucketTickets)
	for id, v := range j.tickets {
		if err := tickets.Put([]byte(id), v); err != nil {
			return fmt.Errorf("save ticket %s: %w", id, err)
		}
	}
	for _, id := range j.deletedTickets {
		if err := tickets.Delete([]byte(id)); err != nil {
			return fmt.Errorf("delete ticket %s: %w", id, err)
		}
	}
	if !j.pruneBefore.IsZero() {
		return pruneLog(tx, j.pruneBefore)
	}
	return nil
}

func decodeSeq(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// lastSeq returns the sequence number of the last key of b, or 0.
func lastSeq(b *bbolt.Bucket) uint64 {
	k, _ := b.Cursor().Last()
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}
