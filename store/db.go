// Package store keeps dpmon's state in bbolt.
//
// The event log is the source of truth for counts: every accepted event is
// appended to it, and on Open the log of the last dedupe horizon is replayed
// to rebuild each account's windows and the set of event ids already seen.
// What the domain decides (phases, settings, transitions) is stored as
// records and written in the same transaction as the events that caused it.
//
// All writes go through one committer goroutine that groups concurrent
// requests into one bbolt transaction and one fsync (group commit). Readers
// see the in-memory state under a read lock.
package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
)

// Errors returned by the store besides the monitor's kinds.
var (
	// ErrClosed is returned when the store is closing or closed.
	ErrClosed = errors.New("store closed")
	// ErrFailed is returned after a commit failed: the in-memory state may be
	// ahead of the disk, so the store refuses further writes until it is
	// reopened (and rebuilt from the disk).
	ErrFailed = errors.New("store failed")
	// ErrAccountLimit is returned when a change would create an account
	// beyond Options.MaxAccounts; nothing of the change is applied. Its
	// text says no numbers: a sender must not learn how many accounts the
	// platform has.
	ErrAccountLimit = errors.New("the server already holds as many accounts as limits.max_accounts allows")
)

// Bucket names.
var (
	bucketMeta               = []byte("meta")
	bucketEvents             = []byte("events")
	bucketAccounts           = []byte("accounts")
	bucketTransitions        = []byte("transitions")
	bucketAccountTransitions = []byte("account_transitions")
	bucketRecipients         = []byte("recipients")
	bucketRecipientHistory   = []byte("recipient_history")
	bucketTickets            = []byte("tickets")
	bucketAudit              = []byte("audit")
	bucketOutbox             = []byte("outbox")
	bucketReputation         = []byte("reputation")
	// bucketUnmapped needs no new schema version: an older dpmon opens a
	// file with it and leaves it alone.
	bucketUnmapped = []byte("unmapped")
	// bucketUnmappedIDs indexes the unmapped events by source and event
	// id, so that each is kept once.
	bucketUnmappedIDs = []byte("unmapped_ids")
)

// buckets are all the top-level buckets, which Open creates.
var buckets = [][]byte{bucketMeta, bucketEvents, bucketAccounts, bucketTransitions, bucketAccountTransitions,
	bucketRecipients, bucketRecipientHistory, bucketTickets, bucketAudit, bucketOutbox, bucketReputation, bucketTallies, bucketDormant,
	bucketPending, bucketRecipientJournal, bucketUnmapped, bucketUnmappedIDs}

// schemaVersion is the layout of the buckets; Open refuses a newer one.
//
// 2: log records are stored in parts.
// 3: log records are a bucket each (see logrecords.go) and recipient
// history entries binary; an older dpmon would take either for corrupt.
// 4: recipient records are journaled before they reach bucketRecipients
// (see overlay.go); an older dpmon would miss those not merged yet.
const schemaVersion = 4

// initialMmapSize is how much of the file is mapped at open (see Open).
const initialMmapSize = 16 << 30

// FileName is the bbolt file inside the data directory.
const FileName = "dpmon.db"

// Options configure a DB.
type Options struct {
	// Policy is the global policy; accounts may override parts of it.
	Policy monitor.Policy
	// Limits bound event timestamps; the dedupe horizon also bounds the log.
	Limits monitor.Limits
	// Clock is read once per commit group; time.Now when nil.
	Clock func() time.Time
	// MaxGroupEvents bounds the events committed in one transaction.
	MaxGroupEvents int
	// DedupeMemory bounds the dedupe index's memory in bytes (0: every
	// id of the horizon is remembered); see dedupebound.go.
	DedupeMemory int64
	// Suppression are the per-recipient rules.
	Suppression monitor.SuppressionPolicy
	// Committed, when set, is told of every durable commit: how many
	// events it wrote, how long its transaction took and the transitions
	// it recorded. It runs on the writer goroutine and must be quick.
	Committed func(events int, took time.Duration, transitions []monitor.Transition)
	// LockTimeout is how long Open waits for another process to let go of
	// the file (a server still shutting down); a second by default.
	LockTimeout time.Duration
	// MaxAccounts bounds the accounts the store tracks (each costs memory
	// for as long as it is kept); 0 is no bound.
	MaxAccounts int
	// CheckpointEvents and CheckpointInterval say how often the tallies
	// are saved (see checkpoint.go): after that many events or that long,
	// whichever comes first. A start replays at most that much of the log.
	CheckpointEvents   int
	CheckpointInterval time.Duration
	// RecipientJournal is how many recipient changes are kept in memory
	// and journaled before they are merged into the recipients' tree (see
	// overlay.go); 64Ki by default.
	RecipientJournal int
	// Route, when set, makes the notifications of a change: it gets the
	// one monitor decided, without a receiver and addressed to the
	// account's admins, and returns a copy per receiver that wants it, due
	// and with its deadline set.
	Route func(base monitor.Notification) []monitor.Notification
	// MaxUnmapped bounds the unmapped events kept (see unmapped.go): past
	// it, the oldest are deleted. 10,000 by default.
	MaxUnmapped int

	// beforePut, for tests, runs on the writer before each transaction.
	beforePut func()
	// recipientMergeChunk, for tests, replaces mergeChunk.
	recipientMergeChunk int
}

// DB is dpmon's storage: a bbolt file and the in-memory state rebuilt from it.
type DB struct {
	path           string
	bolt           *bbolt.DB
	policy         monitor.Policy
	limits         monitor.Limits
	suppression    monitor.SuppressionPolicy
	committed      func(events int, took time.Duration, transitions []monitor.Transition)
	route          func(base monitor.Notification) []monitor.Notification
	clock          func() time.Time
	maxGroupEvents int
	maxAccounts    int
	maxUnmapped    int
	// maxIDs bounds the dedupe index (0: no bound); trimming is set while
	// trimIndex runs. floor is the dedupe floor (unix nanoseconds, 0 for
	// none): events that occurred before it are refused. indexFrom is the
	// first record whose ids the index remembers after a trim.
	maxIDs    int
	ids       atomic.Int64 // the ids the index held after the last group
	trimming  atomic.Bool
	floor     atomic.Int64
	indexFrom uint64
	trimAgain time.Time // no trim is tried before this

	// mu guards accounts and tickets (the maps and what is in them) against
	// readers; the committer goroutine is the only writer.
	mu       sync.RWMutex
	accounts map[string]*monitor.Account
	// accountsGen counts the times an account in accounts was replaced or
	// dropped: a pointer taken from accounts is still the live account as
	// long as accountsGen has not moved.
	accountsGen uint64
	// touched is the committer's scratch set of the accounts a group
	// counted, kept from group to group so that it keeps its room.
	touched map[*monitor.Account]struct{}
	judging []*monitor.Account
	// warmed is what warmAccounts read, kept only so that it reads.
	warmed uint64
	// dormant counts the accounts kept on disk only (see dormant.go);
	// loadWoken are those a start's replay loaded, whose marks it lifts.
	dormant   int
	loadWoken []string
	// dormantPhases counts the dormant accounts by phase while Open loads.
	dormantPhases map[monitor.Phase]int
	// volume counts the platform's sends over the bulk window; written by
	// the committer under mu.
	volume  monitor.Volume
	tickets map[string]*monitor.Ticket

	// Owned by the committer goroutine (and by Open before it starts).
	seen       *dedupeSet
	nextLogSeq uint64
	nextTrSeq  uint64
	groupSeq   uint64 // numbers the commit groups
	spans      logSpans
	keyCache   keyCache
	// dirtyOrder are the accounts counted since their tallies were last
	// saved (monitor.Account.Unsaved), in the order they became dirty,
	// and some saved since (see oldestDirty). Those dirty before record
	// checkpointDue are due to be saved.
	dirtyOrder         []dirtyAccount
	checkpointDue      uint64
	sinceCheckpoint    int // events
	lastCheckpoint     time.Time
	checkpointEvents   int
	checkpointInterval time.Duration

	// inflight are the log records the writer has not committed yet.
	inflight inflightRecords
	// logBuffers are the buffers of committed groups' log records, for
	// later groups to fill.
	logBuffers logBuffers

	// unsettled holds the commit groups that wrote records readers must
	// not see before they are durable (see settled.go); guarded by mu.
	unsettled map[string]uint64
	// durable is the last commit group written; durableCh is closed and
	// replaced when it advances.
	durable atomic.Uint64
	// durableLog is the last log record written.
	durableLog atomic.Uint64
	// indexFileMu keeps the index file's writers apart: SaveIndex and
	// the clean shutdown.
	indexFileMu sync.Mutex
	durableMu   sync.Mutex
	durableCh   chan struct{}
	// beforePut, set by tests, runs on the writer before each transaction.
	beforePut func()
	// phases counts the durable accounts by phase, for metrics.
	phases phaseCounts
	// migrations are the layout steps Open made (see Migration).
	migrations []Migration
	// eventsDurable counts the events made durable since Open.
	eventsDurable atomic.Uint64

	// pending is shared by the committer (adds) and the writer (removes).
	pending *pendingSet
	// overlay holds the recipient records not yet merged into their tree:
	// the writer changes it, readers take its lock.
	overlay *recipientOverlay

	// watchCh is closed and replaced after each commit with transitions.
	watchMu sync.Mutex
	watchCh chan struct{}

	// instance prefixes notification ids; nextOutboxSeq numbers them and
	// is owned by the committer.
	instance      string
	nextOutboxSeq uint64
	// tokens seal the sequence numbers callers see.
	tokens sealer
	// outboxPending indexes the pending notifications; outboxCh is closed
	// and replaced when new ones are committed.
	outboxMu      sync.Mutex
	outboxPending map[uint64]struct{}
	outboxCounts  outboxCounts
	outboxCh      chan struct{}

	replayed ReplayStats
	// dropped is why the saved tallies could not be used, if they could not;
	// indexFileRefused why the index file could not.
	dropped          error
	indexFileRefused error

	ops      chan *op
	writes   chan *group
	closing  chan struct{}
	stopped  chan struct{}
	closeMu  sync.Once
	closeErr error

	failMu   sync.Mutex
	failed   error
	failedCh chan struct{} // closed when failed is set
}

// Open opens or creates the store in dir and rebuilds its in-memory state.
func Open(dir string, opts Options) (*DB, error) {
	if err := opts.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := opts.Suppression.Validate(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if opts.Limits.DedupeHorizon <= opts.Policy.Longest() {
		return nil, fmt.Errorf("open store: %w: the dedupe horizon %s must be longer than the longest window %s",
			monitor.ErrInvalid, opts.Limits.DedupeHorizon, opts.Policy.Longest())
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.MaxGroupEvents <= 0 {
		opts.MaxGroupEvents = 32 * 1024
	}
	if opts.CheckpointEvents <= 0 {
		opts.CheckpointEvents = defaultCheckpointEvents
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = defaultCheckpointInterval
	}
	if opts.RecipientJournal <= 0 {
		opts.RecipientJournal = defaultRecipientJournal
	}
	if opts.MaxUnmapped <= 0 {
		opts.MaxUnmapped = defaultMaxUnmapped
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	path := filepath.Join(dir, FileName)
	bolt, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: opts.LockTimeout, // another process holds the file: fail, do not hang
		// The freelist is written with every commit: without it, bbolt
		// rebuilds it on open by checking every page of the file (0.85 s
		// at 20 million events, most of a start), and writing it did not
		// slow ingestion measurably.
		NoFreelistSync: false,
		FreelistType:   bbolt.FreelistMapType,
		// Remapping a growing file waits for every read transaction and
		// holds up new ones (CheckSend's) and the writer's commit, which
		// showed in CheckSend's tail; mapped this large from the start,
		// the file is remapped only past it. It is address space, not
		// memory.
		InitialMmapSize: initialMmapSize,
	})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	// The log grows by about 100 MB/s at full speed: grow the file in large
	// steps, each a truncate and an fsync, rather than bbolt's 16 MiB.
	bolt.AllocSize = 128 << 20
	db := &DB{
		path:               path,
		bolt:               bolt,
		policy:             opts.Policy,
		limits:             opts.Limits,
		suppression:        opts.Suppression,
		committed:          opts.Committed,
		route:              opts.Route,
		outboxPending:      make(map[uint64]struct{}),
		outboxCounts:       make(outboxCounts),
		outboxCh:           make(chan struct{}),
		pending:            newPendingSet(),
		overlay:            &recipientOverlay{limit: opts.RecipientJournal, chunk: cmp.Or(opts.recipientMergeChunk, mergeChunk)},
		watchCh:            make(chan struct{}),
		clock:              opts.Clock,
		maxGroupEvents:     opts.MaxGroupEvents,
		maxAccounts:        opts.MaxAccounts,
		maxUnmapped:        opts.MaxUnmapped,
		maxIDs:             int(opts.DedupeMemory / dedupeBytesPerID),
		accounts:           make(map[string]*monitor.Account),
		touched:            make(map[*monitor.Account]struct{}),
		tickets:            make(map[string]*monitor.Ticket),
		unsettled:          make(map[string]uint64),
		durableCh:          make(chan struct{}),
		beforePut:          opts.beforePut,
		checkpointEvents:   opts.CheckpointEvents,
		checkpointInterval: opts.CheckpointInterval,
		ops:                make(chan *op, 256),
		logBuffers:         newLogBuffers(),
		writes:             make(chan *group),
		closing:            make(chan struct{}),
		stopped:            make(chan struct{}),
		failedCh:           make(chan struct{}),
	}
	if err := db.load(); err != nil {
		_ = bolt.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	writerDone := make(chan struct{})
	// The stages are labelled so that a CPU profile splits by stage
	// (go tool pprof -tagfocus stage=committer).
	go pprof.Do(context.Background(), pprof.Labels("stage", "writer"), func(context.Context) { db.write(writerDone) })
	go pprof.Do(context.Background(), pprof.Labels("stage", "committer"), func(context.Context) { db.commit(writerDone) })
	return db, nil
}

// load creates the buckets and rebuilds the in-memory state.
func (db *DB) load() error {
	var bulkWasOn bool
	var next uint64 // the log's next record
	err := db.bolt.Update(func(tx *bbolt.Tx) error {
		for _, name := range buckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get([]byte("schema")); v != nil {
			if int(v[0]) > schemaVersion {
				return fmt.Errorf("the data was written by a newer dpmon (schema %d, this one reads %d)", v[0], schemaVersion)
			}
			db.migrations = migrationsFrom(int(v[0]))
		}
		if err := meta.Put([]byte("schema"), []byte{schemaVersion}); err != nil {
			return err
		}
		bulkWasOn = len(meta.Get(metaBulkDefault)) == 1 && meta.Get(metaBulkDefault)[0] == 1
		if v := meta.Get(metaDedupeFloor); len(v) == 8 {
			db.floor.Store(int64(binary.BigEndian.Uint64(v)))
		}
		if err := resetTalliesOfAnotherShape(tx, db.policy); err != nil {
			return err
		}
		seed, err := dedupeSeed(tx)
		if err != nil {
			return err
		}
		db.seen = newDedupeSet(seed)
		next = lastLogSeq(tx.Bucket(bucketEvents)) + 1
		if db.tokens, err = loadSealer(tx); err != nil {
			return err
		}
		if err := scrubOutbox(tx); err != nil {
			return err
		}
		if err := db.loadRecipientJournal(tx); err != nil {
			return err
		}
		if err := db.indexPending(tx); err != nil {
			return err
		}
		return db.loadOutbox(tx)
	})
	if err != nil {
		return err
	}
	start := time.Now()
	// The index file is read while the records below are loaded: they
	// share nothing until the replay, and each is about half of a start
	// (at 50 million ids, 1.1-1.5 s for the file, 0.9-1.8 s for the
	// accounts and recipients).
	var fromFile indexFromFile
	var indexErr error
	var indexing sync.WaitGroup
	indexing.Go(func() { fromFile, indexErr = db.readIndexFile(next) })
	defer indexing.Wait() // also when a load below fails
	now := db.clock()
	db.lastCheckpoint = now
	// Accounts that follow the configured default come under the bulk
	// policy when it is turned on: what they sent before does not count,
	// so they start counting now, before the replay would count it.
	var bulkFrom []*monitor.Account
	db.dormantPhases = make(map[monitor.Phase]int)
	err = db.bolt.View(func(tx *bbolt.Tx) error {
		if err := db.loadAccounts(tx, db.dormantPhases); err != nil {
			return err
		}
		cp, included, err := db.restoreTallies(tx)
		if err != nil {
			return err
		}
		if !bulkWasOn && db.policy.Bulk.Enabled {
			for _, a := range db.accounts {
				if a.Bulk == monitor.BulkDefault {
					a.BulkFrom(now)
					bulkFrom = append(bulkFrom, a)
				}
			}
		}
		if err := db.loadPending(tx); err != nil {
			return err
		}
		if err := db.loadTickets(tx); err != nil {
			return err
		}
		db.nextTrSeq = lastSeq(tx.Bucket(bucketTransitions)) + 1
		db.nextLogSeq = lastLogSeq(tx.Bucket(bucketEvents)) + 1
		db.durableLog.Store(db.nextLogSeq - 1)
		indexing.Wait()
		if indexErr != nil {
			return indexErr
		}
		n, fromLog, err := db.replayLog(tx, now, cp, included, &fromFile)
		// What the replay counted is saved soon: a server that keeps
		// crashing must not replay a longer tail each time.
		db.checkpointDue = db.nextLogSeq
		db.phases.load(db.accounts, db.dormantPhases, db.dormantNotHealthy(tx))
		db.ids.Store(int64(db.seen.len()))
		db.replayed = ReplayStats{Migrations: db.migrations, Accounts: len(db.accounts), Dormant: db.dormant, Events: n, IDs: db.seen.len(), IndexFile: fromFile.loaded,
			IDsFromLog: fromLog, Took: time.Since(start), Dropped: db.dropped, IndexFileRefused: db.indexFileRefused}
		return err
	})
	if err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bbolt.Tx) error { return db.saveBulkDefault(tx, bulkFrom) })
}

// metaBulkDefault records the configured default of the bulk policy, so
// that Open sees when it was turned on.
var metaBulkDefault = []byte("bulk_default")

// saveBulkDefault records the bulk policy's default, with the accounts that
// came under it at this start, in one transaction: should the start fail
// before, the next one sees the change again.
func (db *DB) saveBulkDefault(tx *bbolt.Tx, accounts []*monitor.Account) error {
	for _, a := range accounts {
		v, err := encodeAccount(a)
		if err != nil {
			return fmt.Errorf("save account %s: %w", a.ID, err)
		}
		if err := tx.Bucket(bucketAccounts).Put([]byte(a.ID), v); err != nil {
			return fmt.Errorf("save account %s: %w", a.ID, err)
		}
		// Their tallies were reset: save them as they are now, with every
		// record of the log (the replay counted them).
		t := a.AppendTallies(binary.AppendUvarint([]byte{tallyVersion}, db.nextLogSeq-1))
		if err := tx.Bucket(bucketTallies).Put([]byte(a.ID), t); err != nil {
			return fmt.Errorf("save tallies of %s: %w", a.ID, err)
		}
	}
	for _, id := range db.loadWoken {
		if err := tx.Bucket(bucketDormant).Delete([]byte(id)); err != nil {
			return fmt.Errorf("unmark dormant account %s: %w", id, err)
		}
	}
	on := byte(0)
	if db.policy.Bulk.Enabled {
		on = 1
	}
	return tx.Bucket(bucketMeta).Put(metaBulkDefault, []byte{on})
}

// ReplayStats say what Open rebuilt, for the operator's log.
type ReplayStats struct {
	// Migrations are the steps that brought an older store's layout to
	// this one's, in order; one log line each.
	Migrations []Migration
	// Accounts are loaded in memory; Dormant are kept on disk only.
	Accounts, Dormant int
	// Events are the events counted from the log after the saved tallies.
	Events int
	// IDs are the event ids the dedupe index was loaded with; IndexFile
	// says it was read from the index file (see indexfile.go), and
	// IDsFromLog how many ids were indexed from the log records after it
	// (all of them without the file).
	IDs        int
	IndexFile  bool
	IDsFromLog int
	Took       time.Duration
	// Dropped, when set, is why the saved tallies could not be used (the
	// whole log was counted instead).
	Dropped error
	// IndexFileRefused, when set, is why an index file was not used (the
	// index was rebuilt from the log).
	IndexFileRefused error
}

// Migration is one step of a store's layout, from the schema From to To,
// made by Open in place.
type Migration struct {
	From, To int
	What     string
}

// schemaSteps say what each schema changed, and what Open does to a
// store of the one before: every older layout is still read as it is, so
// a step changes how records are written from then on, in the same
// transaction that stamps the new schema.
var schemaSteps = map[int]string{
	2: "log records are written in parts from now on; whole records are read as they are",
	3: "log records are written a bucket each from now on; records in parts or whole are read as they are",
	4: "recipient changes are journaled before they reach their tree; the journal starts empty",
}

// migrationsFrom returns the steps from schema v to this one's, in order.
func migrationsFrom(v int) []Migration {
	var out []Migration
	for to := v + 1; to <= schemaVersion; to++ {
		out = append(out, Migration{From: to - 1, To: to, What: schemaSteps[to]})
	}
	return out
}

// Replayed returns what Open rebuilt from the log.
func (db *DB) Replayed() ReplayStats { return db.replayed }

// Policy returns the global policy the store applies.
func (db *DB) Policy() monitor.Policy { return db.policy }

// Limits returns the event limits the store applies.
func (db *DB) Limits() monitor.Limits {
	l := db.limits
	l.DedupeFloor = db.DedupeFloor()
	return l
}

// Err returns the error that stopped the store from writing, or nil.
func (db *DB) Err() error {
	db.failMu.Lock()
	defer db.failMu.Unlock()
	return db.failed
}

func (db *DB) fail(err error) {
	db.failMu.Lock()
	defer db.failMu.Unlock()
	if db.failed == nil {
		db.failed = fmt.Errorf("%w: %w", ErrFailed, err)
		close(db.failedCh)
	}
}

// Failed is closed when a commit fails and the store stops writing, so that
// the server can report itself unhealthy without waiting for a request.
func (db *DB) Failed() <-chan struct{} { return db.failedCh }

// Close finishes the writes already queued, then closes the file.
func (db *DB) Close() error {
	db.closeMu.Do(func() {
		close(db.closing)
		<-db.stopped
		// The committer and the writer are done: the index is still, and
		// the log ends at nextLogSeq. A store that failed may be ahead of
		// its disk, so it leaves the next start to rebuild.
		var indexErr error
		if db.Err() == nil {
			indexErr = db.writeIndexFile(db.nextLogSeq)
		}
		if err := db.bolt.Close(); err != nil {
			db.closeErr = fmt.Errorf("close store: %w", err)
		} else if indexErr != nil {
			db.closeErr = fmt.Errorf("close store: %w (the next start rebuilds the index)", indexErr)
		}
	})
	return db.closeErr
}
