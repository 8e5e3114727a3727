package store

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// Data written by a release must open in every later one and answer the
// same. testdata/fixtures holds a snapshot of a small store for each
// schema version, written once by the release that introduced it
// (go test ./store -run TestFixtures -update writes the current one if it
// is missing) and never rewritten, with what it answered then.
var update = flag.Bool("update", false, "write the fixture of the current schema, and its answers, if it is missing")

// fixtureAt is the instant fixtures are written and read at: within the
// windows of their events, so that counts are part of the answer.
var fixtureAt = t0.Add(2 * time.Hour)

func TestFixturesOpenAndAnswerTheSame(t *testing.T) {
	current := filepath.Join("testdata", "fixtures", fmt.Sprintf("schema-%d.db", schemaVersion))
	written := false
	if _, err := os.Stat(current); os.IsNotExist(err) && *update {
		writeFixture(t, current)
		written = true
	}
	paths, err := filepath.Glob(filepath.Join("testdata", "fixtures", "schema-*.db"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures (%v): the current schema's is written with -update", err)
	}
	if _, err := os.Stat(current); err != nil {
		t.Errorf("no fixture of the current schema %d: write it with -update and commit it", schemaVersion)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Restore(path, dir, false); err != nil {
				t.Fatal(err)
			}
			db, err := Open(dir, Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(),
				Suppression: monitor.DefaultSuppressionPolicy(), Clock: monitortest.New(fixtureAt).Now, Route: testRoute})
			if err != nil {
				t.Fatal(err)
			}
			got := answers(t, db)
			closeAndCheck(t, db)
			golden := strings.TrimSuffix(path, ".db") + ".answers.json"
			// Only a fixture written now gets its answers written: an old
			// one's are what its release answered, never rewritten.
			if *update && written && path == current {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s answers differently from when it was written:\n got: %s\nwant: %s", path, got, want)
			}
		})
	}
}

// A store written by a newer dpmon is refused, naming both versions.
func TestANewerSchemaIsRefused(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	closeAndCheck(t, testDB(t, dir, c))
	setSchema(t, dir, schemaVersion+1)
	_, err := Open(dir, Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if want := fmt.Sprintf("schema %d, this one reads %d", schemaVersion+1, schemaVersion); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("opening a newer store: %v, want a refusal with %q", err, want)
	}
}

// writeFixture builds a small store with an account in every phase, a
// ticket in every state, suppressions, the audit log, the outbox and
// reputation scores, and writes its snapshot to path.
func writeFixture(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	c := monitortest.New(t0)
	db := openWithRoute(t, t.TempDir(), c)
	// Small, so that the fixture is: the windows judge from 500 sends.
	ingest(t, db, events("healthy", "s", monitor.EventSend, 100, t0))
	ingest(t, db, events("warned", "s", monitor.EventSend, 500, t0))
	ingest(t, db, events("warned", "b", monitor.EventBounce, 13, t0))
	for _, id := range []string{"suspended", "reinstated", "rejected"} {
		ingest(t, db, events(id, "s", monitor.EventSend, 500, t0))
		ingest(t, db, events(id, "b", monitor.EventBounce, 50, t0))
	}
	if _, err := db.SuppressRecipient(ctx, "healthy", "gone@example.com", admin, "asked by phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateAccount(ctx, "healthy", admin, func(a *monitor.Account) error {
		a.DisplayName, a.AdminEmails = "Healthy Ltd", []string{"ops@healthy.example"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	open, err := db.CreateTicket(ctx, "suspended", "", "Cleaned the list.", monitor.Checklist{BouncedAddressesRemoved: true}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CommentTicket(ctx, open.ID, "Which list?", admin); err != nil {
		t.Fatal(err)
	}
	approved, err := db.CreateTicket(ctx, "reinstated", "", "Confirmed opt-in only.", monitor.Checklist{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ApproveTicket(ctx, approved.ID, "ok", admin); err != nil {
		t.Fatal(err)
	}
	rejected, err := db.CreateTicket(ctx, "rejected", "", "Nothing changed.", monitor.Checklist{}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.RejectTicket(ctx, rejected.ID, "Say what changed.", admin); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordReputation(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Backup(ctx, admin, f, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// answers is what a store says of everything a fixture holds, as JSON.
func answers(t *testing.T, db *DB) []byte {
	t.Helper()
	ctx := context.Background()
	type account struct {
		ID, Phase, Reason, DisplayName, OpenTicket string
		AdminEmails                                []string
		Windows                                    []monitor.Totals
		Transitions                                []string
		Suppressed                                 []string
		Scores                                     []int
	}
	var out struct {
		Accounts      []account
		Tickets       []string
		Audit         []string
		Notifications []string
	}
	accounts, _, err := db.Accounts(ctx, AccountFilter{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accounts {
		st := a.Status(fixtureAt, db.Policy())
		acc := account{ID: a.ID, Phase: a.State.Phase.String(), Reason: a.State.Reason, DisplayName: a.DisplayName,
			OpenTicket: a.OpenTicket, AdminEmails: a.AdminEmails}
		for _, w := range st.Windows {
			acc.Windows = append(acc.Windows, monitor.Totals{Sends: w.Sends, HardBounces: w.HardBounces, Complaints: w.Complaints, Blocks: w.Blocks})
		}
		trs, _, err := db.Transitions(ctx, a.ID, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range trs {
			acc.Transitions = append(acc.Transitions, fmt.Sprintf("%s>%s %s", tr.From, tr.To, tr.Reason))
		}
		sups, _, err := db.Suppressions(ctx, a.ID, SuppressionFilter{}, "", 1000, fixtureAt)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sups {
			acc.Suppressed = append(acc.Suppressed, fmt.Sprintf("%s %s %s", s.Key, s.State.Status, s.State.Reason))
		}
		scores, err := db.ReputationHistory(ctx, a.ID, 90, fixtureAt)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range scores {
			acc.Scores = append(acc.Scores, s.Score)
		}
		out.Accounts = append(out.Accounts, acc)
	}
	tickets, _, err := db.Tickets(ctx, TicketFilter{}, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tickets {
		out.Tickets = append(out.Tickets, fmt.Sprintf("%s %s %s approvals=%d comments=%d %q", tk.ID, tk.AccountID, tk.State, len(tk.Approvals), len(tk.Comments), tk.Resolution))
	}
	audit, _, err := db.Audit(ctx, AuditFilter{}, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range audit {
		out.Audit = append(out.Audit, fmt.Sprintf("%s %s %s %s>%s %q", e.Action, e.Actor.Name, e.AccountID, e.Before, e.After, e.Detail))
	}
	notes, _, err := db.Notifications(ctx, NotificationFilter{}, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range notes {
		out.Notifications = append(out.Notifications, fmt.Sprintf("%s %s %s %s %s", n.ID, n.Receiver, n.Kind, n.AccountID, n.State))
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// A store of an older schema opens, is stamped with this one's, and says
// each step it took; every older layout is read as it is.
func TestAnOlderSchemaIsMigratedStepByStep(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ingest(t, db, events("acme", "s", monitor.EventSend, 10, t0))
	closeAndCheck(t, db)
	setSchema(t, dir, 1)
	re, err := Open(dir, Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(), Suppression: monitor.DefaultSuppressionPolicy(), Clock: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	steps := re.Replayed().Migrations
	if len(steps) != schemaVersion-1 || steps[0].From != 1 || steps[len(steps)-1].To != schemaVersion {
		t.Errorf("migrations from schema 1: %+v, want one step a version up to %d", steps, schemaVersion)
	}
	for _, s := range steps {
		if s.What == "" {
			t.Errorf("step %d→%d says nothing", s.From, s.To)
		}
	}
	if a, err := re.Account(context.Background(), "acme"); err != nil || a.State.Phase != monitor.PhaseHealthy {
		t.Errorf("acme after the migration: %v", err)
	}
	closeAndCheck(t, re)
	again := testDB(t, dir, c)
	if steps := again.Replayed().Migrations; len(steps) != 0 {
		t.Errorf("a second start migrates again: %+v", steps)
	}
}

func setSchema(t *testing.T, dir string, v byte) {
	t.Helper()
	raw, err := bbolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte{v}) }); err != nil {
		t.Fatal(err)
	}
}
