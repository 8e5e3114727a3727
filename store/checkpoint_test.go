package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// openOpts opens a store in dir with the tests' policy and the given
// checkpoint pace.
func openOpts(t *testing.T, dir string, c *monitortest.Clock, p monitor.Policy, every int) *DB {
	t.Helper()
	db, err := Open(dir, Options{Policy: p, Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(),
		Clock: c.Now, CheckpointEvents: every, CheckpointInterval: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndCheck(t, db) })
	return db
}

// crashCopy returns a data directory holding what a crash of db at this
// moment would leave: its last commit, taken in a read transaction.
func crashCopy(t *testing.T, db *DB) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := db.bolt.View(func(tx *bbolt.Tx) error { _, err := tx.WriteTo(f); return err }); err != nil {
		t.Fatal(err)
	}
	return dir
}

// mixedBatch returns n events over accounts, senders and recipients, some
// bounces and complaints, occurring around at. Each sender mails fewer
// recipients than the bulk limit: a replay judges senders once at its end,
// not after each batch, so a sender over its limit may keep a mark live
// judging cleared (harmless: the block itself is in the account record).
func mixedBatch(rng *rand.Rand, prefix string, n int, at time.Time) []monitor.Event {
	out := make([]monitor.Event, n)
	for i := range out {
		e := monitor.Event{ID: fmt.Sprintf("%s-%d", prefix, i), AccountID: fmt.Sprintf("acct-%d", rng.IntN(5)),
			Type: monitor.EventSend, OccurredAt: at.Add(-time.Duration(rng.IntN(3600)) * time.Second),
			Recipient: fmt.Sprintf("r%d@example.com", rng.IntN(30)), Sender: fmt.Sprintf("s%d@acme.example", rng.IntN(3))}
		switch x := rng.IntN(100); {
		case x < 4:
			e.Type = monitor.EventBounce
			e.Bounce = &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}
		case x < 5:
			e.Type = monitor.EventComplaint
		}
		out[i] = e
	}
	return out
}

// tallies returns the encoded tallies of every account of db.
func tallies(db *DB) map[string][]byte {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make(map[string][]byte)
	for id, a := range db.accounts {
		out[id] = a.AppendTallies(nil)
	}
	return out
}

func sameTallies(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d accounts, want %d", len(got), len(want))
	}
	for id, w := range want {
		if !bytes.Equal(got[id], w) {
			i := 0
			for i < min(len(got[id]), len(w)) && got[id][i] == w[i] {
				i++
			}
			t.Errorf("account %s: the tallies after the restart differ from those before (%d and %d bytes, from byte %d: %x vs %x)", id, len(got[id]), len(w), i, got[id][i:min(i+20, len(got[id]))], w[i:min(i+20, len(w))])
		}
	}
}

// TestACrashAnywhereRestoresTheSameCounts copies the store after each batch,
// as a crash would leave it, and opens each copy: whatever the checkpoint's
// pace, the counts and the dedupe index are those of the live store.
func TestACrashAnywhereRestoresTheSameCounts(t *testing.T) {
	p := monitor.DefaultPolicy()
	p.Bulk.Enabled = true
	for _, every := range []int{1, 700, 1 << 30} {
		t.Run(fmt.Sprintf("checkpoint every %d events", every), func(t *testing.T) {
			c := monitortest.New(t0)
			db := openOpts(t, t.TempDir(), c, p, every)
			rng := rand.New(rand.NewPCG(1, uint64(every)))
			var sent [][]monitor.Event
			for b := range 6 {
				c.Set(c.Now().Add(7 * time.Minute))
				batch := mixedBatch(rng, fmt.Sprint("b", b), 400, c.Now())
				ingest(t, db, batch)
				sent = append(sent, batch)
				wantIDs := db.seen.len()
				re := openOpts(t, crashCopy(t, db), c, p, every)
				// A replay leaves the senders it counted to be judged at the
				// next step, as ingestion does before its step: judge both.
				for _, s := range []*DB{db, re} {
					if _, err := s.Sweep(context.Background(), c.Now()); err != nil {
						t.Fatal(err)
					}
				}
				sameTallies(t, tallies(re), tallies(db))
				if r := re.Replayed(); r.IDs != wantIDs || r.Dropped != nil {
					t.Errorf("batch %d: replay %+v, want %d ids and no tallies dropped", b, r, wantIDs)
				}
				if every == 1 && re.Replayed().Events != 0 {
					t.Errorf("batch %d: %d events replayed after a checkpoint at every event", b, re.Replayed().Events)
				}
				if every == 1<<30 && re.Replayed().Events != (b+1)*400 {
					t.Errorf("batch %d: %d events replayed, want all %d: no checkpoint yet", b, re.Replayed().Events, (b+1)*400)
				}
				for i, old := range sent {
					if res := ingest(t, re, old); res.Duplicates != len(old) {
						t.Fatalf("batch %d, resending batch %d: %+v, want all duplicates", b, i, res)
					}
				}
			}
		})
	}
}

// TestAReinstatementBeforeACheckpointSurvivesACrash: the windows a
// reinstatement empties stay empty after a crash, although no checkpoint
// followed it.
func TestAReinstatementBeforeACheckpointSurvivesACrash(t *testing.T) {
	c := monitortest.New(t0)
	db := openOpts(t, t.TempDir(), c, monitor.DefaultPolicy(), 1<<30)
	ctx := context.Background()
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 100, t0)) // 10 %: suspended
	tk, err := db.CreateTicket(ctx, "acme", "", "Removed every bounced address.", monitor.Checklist{BouncedAddressesRemoved: true}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ApproveTicket(ctx, tk.ID, "fixed", admin); err != nil {
		t.Fatal(err)
	}
	c.Set(c.Now().Add(time.Minute))
	ingest(t, db, events("acme", "after", monitor.EventSend, 10, c.Now()))
	want := tallies(db)

	re := openOpts(t, crashCopy(t, db), c, monitor.DefaultPolicy(), 1<<30)
	sameTallies(t, tallies(re), want)
	if w := window(t, re, "acme", c.Now()); w.Sends != 10 || w.HardBounces != 0 {
		t.Errorf("after the crash: %d sends and %d hard bounces counted, want only the 10 sends after the reinstatement", w.Sends, w.HardBounces)
	}
}

// TestTalliesOfAnotherShapeAreCountedAgain: a policy whose windows changed
// cannot use the saved tallies; the store counts the log instead.
func TestTalliesOfAnotherShapeAreCountedAgain(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	p := monitor.DefaultPolicy()
	db, err := Open(dir, Options{Policy: p, Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ingest(t, db, events("acme", "s", monitor.EventSend, 50, t0))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	p.Bucket *= 2
	re := openOpts(t, dir, c, p, 1<<30)
	if r := re.Replayed(); r.Events != 50 {
		t.Errorf("replay %+v, want the 50 events counted again", r)
	}
	if w := window(t, re, "acme", t0); w.Sends != 50 {
		t.Errorf("%d sends, want 50", w.Sends)
	}
}

// TestAnOlderLogIsStillRead: records written before the log carried its
// dedupe hashes are counted and indexed from their events.
func TestAnOlderLogIsStillRead(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	old := events("acme", "old", monitor.EventSend, 30, t0)
	var buf []byte
	for i := range old {
		buf = appendEvent(buf, &old[i])
	}
	rec := append([]byte{logVersion1}, encodeLogRecord(t0, len(old), nil, buf)[1:]...)
	if err := db.bolt.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketAccounts).Put([]byte("acme"), mustEncode(t, monitor.NewAccount("acme", t0, db.policy))); err != nil {
			return err
		}
		return tx.Bucket(bucketEvents).Put(seqKey(1), rec)
	}); err != nil {
		t.Fatal(err)
	}
	re := openOpts(t, crashCopy(t, db), c, monitor.DefaultPolicy(), 1<<30)
	if r := re.Replayed(); r.Events != 30 || r.IDs != 30 {
		t.Errorf("replay %+v, want 30 events counted and indexed", r)
	}
	if res := ingest(t, re, old); res.Duplicates != 30 {
		t.Errorf("resending the old events: %+v, want all duplicates", res)
	}
	if w := window(t, re, "acme", t0); w.Sends != 30 {
		t.Errorf("%d sends, want 30", w.Sends)
	}
}

func mustEncode(t *testing.T, a *monitor.Account) []byte {
	t.Helper()
	v, err := encodeAccount(a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// collidingIDs returns n event ids of account that the dedupe index cannot
// tell apart: their hashes share the shard and the fingerprint.
func collidingIDs(t *testing.T, s *dedupeSet, account string, n int) []string {
	t.Helper()
	seen := make(map[uint64]string)
	groups := make(map[uint64][]string)
	for i := range 1 << 23 {
		id := fmt.Sprint("c", i)
		k := s.keyBytes([]byte(account), []byte(id))
		slot := k%dedupeShards | fingerprint(k)<<8
		if _, ok := seen[slot]; !ok {
			seen[slot] = id
			continue
		}
		groups[slot] = append(groups[slot], id)
		if g := groups[slot]; len(g)+1 == n {
			return append([]string{seen[slot]}, g...)
		}
	}
	t.Fatal("no colliding ids found")
	return nil
}

// TestIdsThatShareAFingerprintAreNotDuplicates: the index's match is only
// a hint; the log decides, whether the earlier event is in the same batch,
// in a committed record or read back after a restart.
func TestIdsThatShareAFingerprintAreNotDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes millions of ids")
	}
	c := monitortest.New(t0)
	dir := t.TempDir()
	db := testDB(t, dir, c)
	ids := collidingIDs(t, db.seen, "acme", 2)
	ev := func(id string) monitor.Event {
		return monitor.Event{ID: id, AccountID: "acme", Type: monitor.EventSend, OccurredAt: t0, Recipient: "r@example.com"}
	}
	if res := ingest(t, db, []monitor.Event{ev(ids[0]), ev(ids[1])}); res.Accepted != 2 {
		t.Fatalf("two ids sharing a fingerprint in one batch: %+v, want both accepted", res)
	}
	more := collidingIDs(t, db.seen, "beta", 2)
	evb := func(id string) monitor.Event { e := ev(id); e.AccountID = "beta"; return e }
	ingest(t, db, []monitor.Event{evb(more[0])})
	if res := ingest(t, db, []monitor.Event{evb(more[1]), evb(more[0])}); res.Accepted != 1 || res.Duplicates != 1 {
		t.Fatalf("the second of a colliding pair in a later batch, and the first again: %+v, want 1 accepted, 1 duplicate", res)
	}
	re := openOpts(t, crashCopy(t, db), c, monitor.DefaultPolicy(), 1<<30)
	res := ingest(t, re, []monitor.Event{ev(ids[0]), ev(ids[1]), evb(more[0]), evb(more[1])})
	if res.Duplicates != 4 {
		t.Errorf("after a restart, all four again: %+v, want 4 duplicates", res)
	}
}

// TestAStartSavesWhatItReplayed: a server that crashes again and again must
// not replay a longer tail each time. What a start counted is due at once.
func TestAStartSavesWhatItReplayed(t *testing.T) {
	c := monitortest.New(t0)
	p := monitor.DefaultPolicy()
	db := openOpts(t, t.TempDir(), c, p, 1<<30)
	rng := rand.New(rand.NewPCG(9, 9))
	ingest(t, db, mixedBatch(rng, "a", 2000, t0))
	re := openOpts(t, crashCopy(t, db), c, p, 1<<30)
	if n := re.Replayed().Events; n != 2000 {
		t.Fatalf("first start replayed %d events, want 2000", n)
	}
	ingest(t, re, mixedBatch(rng, "b", 10, t0))
	again := openOpts(t, crashCopy(t, re), c, p, 1<<30)
	// The next commit saved the accounts the start counted (with the 10
	// events it brought them): at most those 10 are left to replay.
	if n := again.Replayed().Events; n > 10 {
		t.Errorf("the start after replayed %d events, want at most the 10 that came after the first start", n)
	}
	sameTallies(t, tallies(again), tallies(re))
}

// TestACheckpointIsSavedAChunkAtATime: with more accounts due than one
// commit saves, each commit saves the oldest chunk, and the tail a start
// replays shrinks commit by commit.
func TestACheckpointIsSavedAChunkAtATime(t *testing.T) {
	c := monitortest.New(t0)
	p := monitor.DefaultPolicy()
	db := openOpts(t, t.TempDir(), c, p, 1<<30)
	accounts := 2*checkpointChunk + 100
	for start := 0; start < accounts; start += 1000 {
		var batch []monitor.Event
		for i := start; i < min(start+1000, accounts); i++ {
			batch = append(batch, monitor.Event{ID: "e", AccountID: fmt.Sprintf("acct-%05d", i), Type: monitor.EventSend, OccurredAt: t0, Recipient: "r@example.com"})
		}
		ingest(t, db, batch)
	}
	// The interval has passed: everything dirty is due, a chunk a commit.
	c.Set(t0.Add(25 * time.Hour))
	want := tallies(db)
	replayed := []int{}
	for i := range 4 {
		ingest(t, db, events("tick", fmt.Sprint("t", i), monitor.EventSend, 1, c.Now()))
		re := openOpts(t, crashCopy(t, db), c, p, 1<<30)
		replayed = append(replayed, re.Replayed().Events)
		if i == 3 {
			want["tick"] = tallies(db)["tick"]
			sameTallies(t, tallies(re), want)
		}
	}
	// First commit: the oldest chunk; then the next; then the rest.
	if replayed[0] >= accounts || replayed[1] >= replayed[0] || replayed[2] > 2 || replayed[3] > 1 {
		t.Errorf("events replayed after each commit: %v, want a tail shrinking to nothing", replayed)
	}
}
