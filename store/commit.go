package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// op is one write request. apply runs on the committer goroutine with the
// accounts write-locked (a long apply lets readers in where what it has
// changed so far may be seen: see letReadersIn); it changes the in-memory
// state and records in the group what must be written. done is closed
// once the group is durable (or has failed), and err then holds the
// outcome.
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

// group is one commit group, from the ops gathered to the records written:
// the committer applies the ops and decides what follows, encode turns
// that into records, and the writer puts them in one transaction.
type group struct {
	seq uint64
	now time.Time
	ops []*op

	// What the committer made of the ops.

	// events are the accepted events, encoded (see appendEvent), logN of
	// them, with their dedupe hashes, 8 bytes each; logSeq numbers the log
	// record they go to.
	events []byte
	logN   int
	hashes []byte
	logSeq uint64
	// cands is scratch for the dedupe lookups; own holds the keys of the
	// group's events once a lookup needed them (see ownKeys).
	cands []uint32
	own   map[string]struct{}
	// d decides what the group's events and calls change and who is told:
	// its Outcome is what the group writes besides the events.
	d *monitor.Decider
	// touched are the accounts to judge at the end of the group (the
	// committer's scratch set, see DB.touched); accountsGen is
	// DB.accountsGen when the group began.
	touched     map[*monitor.Account]struct{}
	accountsGen uint64
	saved       map[string]struct{} // accounts whose record must be written
	// tallied are the accounts whose tallies must be saved with the group:
	// a change reset them, and a restart must not count from the old ones.
	tallied map[string]struct{}
	// saveAllTallies is set on the last group of a closing store, which
	// saves the tallies of every dirty account.
	saveAllTallies bool
	// sweep is set for a sweep's group: it also forgets idle senders and
	// judges reputation scores.
	sweep bool
	// recipients are the per-recipient changes, in the order they came;
	// the writer decides them against the records (see putRecipients).
	recipients []recipientWork
	// created are the accounts the group created; rested those it put to
	// rest (dormant) and woken those it loaded from disk again.
	created, woken []string
	rested         []restedAccount
	// savedTickets are the tickets whose record must be written, and
	// deletedTickets those whose record must go.
	savedTickets   []string
	deletedTickets []string
	// reputation are the daily scores to record.
	reputation []dailyScore
	// outboxChanges change stored notifications; retainOutbox delete the
	// settled ones of stretches of the outbox.
	outboxChanges []*outboxChange
	retainOutbox  []*outboxRetention
	// retainAudit delete the oldest audit entries.
	retainAudit []*auditRetention
	pruneBefore time.Time // log records accepted before this are deleted
	// dedupeFloor, when not 0, is a raised dedupe floor to save (see
	// dedupebound.go).
	dedupeFloor int64

	// The records encode made of it, for the writer.

	// logHead is the header of the group's log record, which its hashes
	// and events follow; nil when it logged no event.
	logHead           []byte
	accountRecords    map[string][]byte
	ticketRecords     map[string][]byte
	transitionRecords []encodedTransition
	auditRecords      [][]byte
	outbox            []outboxEntry
	// tallies are the accounts' tallies to save; checkpoint, when set, is
	// the checkpoint record that goes with them.
	tallies    map[string][]byte
	checkpoint []byte
	// cleared are the recipient keys the group left no longer pending;
	// filled in by putRecipients.
	cleared [][]byte
	// recipientRecords are the recipient records the group changed, by
	// key, which the overlay takes once they are durable; the writer fills
	// them in, and sets freezeRecipients or mergedRecipients when the
	// group freezes the overlay's current generation or merges the last of
	// the frozen one (see overlay.go).
	recipientRecords                   map[string][]byte
	freezeRecipients, mergedRecipients bool
}

type encodedTransition struct {
	seq       uint64
	accountID string
	value     []byte
}

// logBuffers hands the buffers of a committed group's log record on to a
// later group: a group's events grow to megabytes, and growing them afresh
// for every group made a quarter of all allocation under load.
type logBuffers struct {
	spare chan [2][]byte
}

// maxSpareLog is the largest events buffer kept for reuse.
const maxSpareLog = 16 << 20

func newLogBuffers() logBuffers { return logBuffers{spare: make(chan [2][]byte, 2)} }

// get returns empty buffers for a group's events and hashes, reused if
// some are spare.
func (b logBuffers) get() (events, hashes []byte) {
	select {
	case s := <-b.spare:
		return s[0][:0], s[1][:0]
	default:
		return nil, nil
	}
}

// put offers a committed group's buffers for reuse; nothing may refer to
// them any more.
func (b logBuffers) put(events, hashes []byte) {
	if cap(events) > maxSpareLog {
		return
	}
	select {
	case b.spare <- [2][]byte{events, hashes}:
	default:
	}
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
	g := &group{seq: db.groupSeq, now: now, ops: ops, logSeq: db.nextLogSeq, touched: db.touched, accountsGen: db.accountsGen, saved: map[string]struct{}{},
		d: monitor.NewDecider(now, &db.policy, &db.volume)}
	g.events, g.hashes = db.logBuffers.get()
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
	// A pointer in touched is the live account unless the group replaced
	// or dropped one (an admin's change, a ticket); then each is checked.
	replaced := db.accountsGen != g.accountsGen
	db.judging = slices.AppendSeq(db.judging[:0], maps.Keys(g.touched))
	for chunk := range slices.Chunk(db.judging, stepChunk) {
		db.mu.Lock()
		db.warmAccounts(chunk, (*monitor.Account).WarmJudge)
		for _, a := range chunk {
			if replaced && db.accounts[a.ID] != a {
				continue
			}
			db.step(g, a)
		}
		db.mu.Unlock()
		runtime.Gosched() // see letReadersIn
	}
	db.mu.Lock()
	db.planTallies(g, len(ops) == 1 && ops[0].final)
	db.mu.Unlock()
	clear(db.touched)
	clear(db.judging)
	g.touched = nil
	for _, o := range ops {
		o.transitions = len(g.d.Transitions)
	}

	if err := db.encode(g); err != nil {
		// Encoding our own records cannot fail short of a bug; the memory
		// is ahead of the disk now, so stop writing: the writer writes
		// nothing once the store failed.
		db.fail(fmt.Errorf("encode commit group: %w", err))
	} else if g.logHead != nil {
		db.inflight.add(g.logSeq, inflightRecord{n: g.logN, events: g.events})
	}
	db.writes <- g
	db.maybeTrimIndex(now)
}

// letReadersIn releases the locks an op's apply holds and takes them
// again, so that readers waiting for them go first: counting a batch of
// 1,000 events holds them for up to milliseconds, and CheckSend, on every
// message a platform sends, must not wait that long. Only the committer
// takes the write lock, so what gets in are readers, and the writer
// clearing pending recipients of an older group. In between it yields its
// processor, so that the goroutines queued behind it (a CheckSend's
// handler, a connection's reader) run before the rest of the batch rather
// than at the end of its time slice, up to 10 ms later.
// BenchmarkReadAccountBesideIngest measures the wait.
func (db *DB) letReadersIn() {
	db.pending.mu.Unlock()
	db.mu.Unlock()
	runtime.Gosched()
	db.mu.Lock()
	db.pending.mu.Lock()
}

// warmAccounts has the accounts' memory read in a loop of loads alone
// (see monitor.Account.WarmCount) before they are counted or judged one
// by one. The caller holds the lock.
func (db *DB) warmAccounts(accounts []*monitor.Account, warm func(*monitor.Account) uint64) {
	w := db.warmed
	for _, a := range accounts {
		if a != nil {
			w ^= warm(a)
		}
	}
	db.warmed = w
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
	if !g.sweep || j.Forgot {
		// Counted events (or forgot senders) in the group's record.
		db.markDirty(a, g.logSeq)
	}
	if g.sweep {
		db.rest(g, a, j.Moved)
	}
}

// encode turns what the group decided into the records the writer puts.
// Only the committer writes accounts, so it may read them without the lock.
func (db *DB) encode(g *group) error {
	if g.logN > 0 {
		db.nextLogSeq++
		g.logHead = encodeLogHead(g.now, g.logN)
		db.spans.add(g.logSeq, g.now, g.logN)
	}
	if err := db.encodeTallies(g); err != nil {
		return err
	}
	g.accountRecords = make(map[string][]byte, len(g.saved))
	for id := range g.saved {
		v, err := encodeAccount(db.accounts[id])
		if err != nil {
			return err
		}
		g.accountRecords[id] = v
	}
	for _, n := range db.routed(g.d.Notifications) {
		seq := db.nextOutboxSeq
		n.ID = db.notificationID(seq)
		v, err := encodeNotification(n)
		if err != nil {
			return err
		}
		g.outbox = append(g.outbox, outboxEntry{seq: seq, value: v, receiver: n.Receiver})
		db.nextOutboxSeq++
	}
	for _, id := range g.savedTickets {
		v, err := encodeTicket(db.tickets[id])
		if err != nil {
			return err
		}
		if g.ticketRecords == nil {
			g.ticketRecords = make(map[string][]byte)
		}
		g.ticketRecords[id] = v
	}
	for _, e := range g.d.Audit {
		v, err := encodeAudit(e)
		if err != nil {
			return err
		}
		g.auditRecords = append(g.auditRecords, v)
	}
	for _, t := range g.d.Transitions {
		v, err := encodeTransition(t)
		if err != nil {
			return err
		}
		g.transitionRecords = append(g.transitionRecords, encodedTransition{seq: db.nextTrSeq, accountID: t.AccountID, value: v})
		db.nextTrSeq++
	}
	return nil
}

// write is the writer loop: one bbolt transaction, hence one fsync, per
// group.
func (db *DB) write(done chan struct{}) {
	defer close(done)
	for g := range db.writes {
		err := db.Err()
		if err == nil && !g.empty() {
			if db.beforePut != nil {
				db.beforePut()
			}
			start := time.Now()
			err = db.bolt.Update(func(tx *bbolt.Tx) error { return db.put(tx, g) })
			if err != nil {
				db.fail(err)
				err = db.Err()
			} else {
				db.recipientsCommitted(g)
				db.clearPending(g)
				if g.logHead != nil {
					db.durableLog.Store(g.logSeq)
				}
				if len(g.transitionRecords) > 0 {
					db.transitionsCommitted()
				}
				if len(g.outbox) > 0 {
					db.outboxCommitted(g.outbox)
				}
				db.outboxChanged(g.outboxChanges)
				for _, r := range g.retainOutbox {
					db.outboxRetained(r)
				}
				db.phases.committed(len(g.created), g.d.Transitions)
				db.eventsDurable.Add(uint64(g.logN))
				if db.committed != nil {
					db.committed(g.logN, time.Since(start), g.d.Transitions)
				}
			}
		}
		if g.logHead != nil {
			db.inflight.remove(g.logSeq)
			db.logBuffers.put(g.events, g.hashes)
		}
		if err == nil {
			db.committedGroup(g.seq)
		}
		for _, o := range g.ops {
			if err != nil {
				o.err = err
			}
			close(o.done)
		}
	}
}

// empty reports whether the group has nothing to write, as a sweep that
// changed nothing: it needs no transaction and no fsync.
func (g *group) empty() bool {
	return g.logHead == nil && len(g.accountRecords) == 0 && len(g.transitionRecords) == 0 && g.pruneBefore.IsZero() &&
		len(g.tallies) == 0 && g.checkpoint == nil && len(g.deletedTickets) == 0 && len(g.rested) == 0 && len(g.woken) == 0 &&
		len(g.recipients) == 0 && len(g.auditRecords) == 0 && len(g.ticketRecords) == 0 && len(g.outbox) == 0 && len(g.reputation) == 0 &&
		len(g.outboxChanges) == 0 && len(g.retainOutbox) == 0 && len(g.retainAudit) == 0 && g.dedupeFloor == 0
}

// put writes a group's records inside one transaction.
func (db *DB) put(tx *bbolt.Tx, g *group) error {
	if g.logHead != nil {
		if err := putLog(tx.Bucket(bucketEvents), g.logSeq, g.logHead, g.hashes, g.events); err != nil {
			return err
		}
	}
	accounts := tx.Bucket(bucketAccounts)
	// In key order: see putTallies.
	for _, id := range slices.Sorted(maps.Keys(g.accountRecords)) {
		if err := accounts.Put([]byte(id), g.accountRecords[id]); err != nil {
			return fmt.Errorf("save account %s: %w", id, err)
		}
	}
	if err := putTallies(tx, g); err != nil {
		return err
	}
	if err := putDormant(tx, g); err != nil {
		return err
	}
	if err := putTransitions(tx, g.transitionRecords); err != nil {
		return err
	}
	if err := db.putRecipients(tx, g); err != nil {
		return err
	}
	if err := putAudit(tx, g.auditRecords); err != nil {
		return err
	}
	if err := putOutbox(tx, g.outbox); err != nil {
		return err
	}
	if err := putOutboxChanges(tx, g.outboxChanges); err != nil {
		return err
	}
	for _, r := range g.retainOutbox {
		if err := r.put(tx); err != nil {
			return err
		}
	}
	for _, r := range g.retainAudit {
		if err := r.put(tx); err != nil {
			return err
		}
	}
	if err := putReputation(tx, g.reputation); err != nil {
		return err
	}
	if err := putDedupeFloor(tx, g.dedupeFloor); err != nil {
		return err
	}
	tickets := tx.Bucket(bucketTickets)
	for id, v := range g.ticketRecords {
		if err := tickets.Put([]byte(id), v); err != nil {
			return fmt.Errorf("save ticket %s: %w", id, err)
		}
	}
	for _, id := range g.deletedTickets {
		if err := tickets.Delete([]byte(id)); err != nil {
			return fmt.Errorf("delete ticket %s: %w", id, err)
		}
	}
	if !g.pruneBefore.IsZero() {
		return pruneLog(tx, g.pruneBefore)
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
