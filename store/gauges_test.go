package store

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// checkGauges compares the counts the store keeps for metrics with those
// read from every record.
func checkGauges(t *testing.T, db *DB, when string) {
	t.Helper()
	phases := map[monitor.Phase]int{}
	notHealthy := map[monitor.Phase][]string{}
	outbox := map[string]map[monitor.NotificationState]int{}
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketAccounts).ForEach(func(_, v []byte) error {
			a, err := decodeAccount(v, db.policy)
			if err == nil {
				phases[a.State.Phase]++
				if a.State.Phase != monitor.PhaseHealthy {
					notHealthy[a.State.Phase] = append(notHealthy[a.State.Phase], a.ID)
				}
			}
			return err
		}); err != nil {
			return err
		}
		return tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
			var r struct {
				Receiver string                    `json:"receiver"`
				State    monitor.NotificationState `json:"state"`
			}
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if outbox[r.Receiver] == nil {
				outbox[r.Receiver] = map[monitor.NotificationState]int{}
			}
			outbox[r.Receiver][r.State]++
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	got := db.PhaseCounts()
	maps.DeleteFunc(got, func(_ monitor.Phase, n int) bool { return n == 0 })
	if !maps.Equal(got, phases) {
		t.Errorf("%s: accounts by phase %v, the records say %v", when, got, phases)
	}
	// The index of the accounts not healthy holds exactly those.
	for _, p := range []monitor.Phase{monitor.PhaseWarning, monitor.PhaseSuspended, monitor.PhaseProbation} {
		if got := db.phases.idsAfter(p, "", "", 1<<30); !slices.Equal(got, notHealthy[p]) {
			t.Errorf("%s: the index of %s accounts holds %v, the records say %v", when, p, got, notHealthy[p])
		}
	}
	gotOutbox, err := db.OutboxCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for r, byState := range gotOutbox {
		maps.DeleteFunc(byState, func(_ monitor.NotificationState, n int) bool { return n == 0 })
		if len(byState) == 0 {
			delete(gotOutbox, r)
		}
	}
	if !maps.EqualFunc(gotOutbox, outbox, maps.Equal) {
		t.Errorf("%s: notifications %v, the records say %v", when, gotOutbox, outbox)
	}
}

// TestGaugesFollowTheCommits: the counts behind the accounts and
// notifications gauges are kept as commits happen, and always agree with
// the records, also after a restart.
func TestGaugesFollowTheCommits(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := openWithRoute(t, dir, c)
	ctx := context.Background()
	checkGauges(t, db, "empty")
	ingest(t, db, events("quiet", "s", monitor.EventSend, 10, t0))
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 25, t0)) // warning
	checkGauges(t, db, "after a warning")
	ingest(t, db, events("acme", "b2", monitor.EventBounce, 100, t0)) // suspended
	if _, err := db.UpdateAccount(ctx, "made-by-hand", admin, func(*monitor.Account) error { return nil }); err != nil {
		t.Fatal(err)
	}
	checkGauges(t, db, "after a suspension and an account made by hand")
	tk, err := db.CreateTicket(ctx, "acme", "", "Cleaned the list.", monitor.Checklist{BouncedAddressesRemoved: true}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.ApproveTicket(ctx, tk.ID, "ok", admin); err != nil {
		t.Fatal(err)
	}
	checkGauges(t, db, "after a reinstatement")
	due, err := db.DueNotifications(ctx, t0.Add(1e12), 100)
	if err != nil || len(due) == 0 {
		t.Fatalf("due: %d, %v", len(due), err)
	}
	for i, n := range due {
		if _, err := db.UpdateNotification(ctx, n.ID, func(n *monitor.Notification) error {
			n.Attempted(t0, nil, i%2 == 0, monitor.DefaultRetryPolicy(), 0)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	checkGauges(t, db, "after deliveries")
	closeAndCheck(t, db)
	db = openWithRoute(t, dir, c)
	checkGauges(t, db, "after a restart")
}
