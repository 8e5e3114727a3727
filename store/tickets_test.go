package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

var platform = monitor.Actor{Name: "platform-a", Role: "sender"}

// A ticket, its approval and the audit of both survive restarts; the
// reinstated account is judged on what it sent after the reinstatement
// only, also when the log is replayed.
func TestReinstatementSurvivesRestarts(t *testing.T) {
	dir := t.TempDir()
	c := monitortest.New(t0)
	db := testDB(t, dir, c)
	ctx := context.Background()
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 100, t0)) // 10 %: suspended
	tk, err := db.CreateTicket(ctx, "acme", "", "Removed every bounced address.", monitor.Checklist{BouncedAddressesRemoved: true}, platform)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateTicket(ctx, "acme", "", "Again.", monitor.Checklist{}, platform); !errors.Is(err, monitor.ErrConflict) {
		t.Fatalf("a second open ticket: got %v, want ErrConflict", err)
	}
	if _, err := db.CommentTicket(ctx, tk.ID, "Where did the list come from?", admin); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, dir, c)

	c.Set(t0.Add(time.Hour))
	tk, a, err := db.ApproveTicket(ctx, tk.ID, "Looks clean now.", admin)
	if err != nil {
		t.Fatal(err)
	}
	if tk.State != monitor.TicketApproved || a.State.Phase != monitor.PhaseProbation || a.OpenTicket != "" {
		t.Fatalf("after approval: ticket %s, account %s", tk.State, a.State.Phase)
	}
	db = reopen(t, db, dir, c)
	if _, err := db.Sweep(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	a, err = db.Account(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if a.State.Phase != monitor.PhaseProbation || a.RecentReinstatements(t0.Add(2*time.Hour), db.Policy()) != 1 {
		t.Fatalf("after replaying the log: %s, want probation (the old bounces no longer count)", a.State.Phase)
	}
	if w := window(t, db, "acme", t0.Add(2*time.Hour)); w.HardBounces != 0 || w.Sends != 0 {
		t.Errorf("windows after the reinstatement: %d sends, %d hard bounces; want none", w.Sends, w.HardBounces)
	}
	got, err := db.Ticket(ctx, tk.ID)
	if err != nil || len(got.Comments) != 1 || len(got.Approvals) != 1 || got.ClosedBy != "ops-alice" {
		t.Fatalf("ticket after restarts: %+v, %v", got, err)
	}
	ts, _, _ := db.Transitions(ctx, "acme", 10, "")
	if len(ts) != 2 || ts[0].To != monitor.PhaseProbation || ts[0].Actor != "ops-alice" || len(ts[0].Recommendations) == 0 {
		t.Errorf("transitions: %+v, want the reinstatement by ops-alice, newest first", ts)
	}

	audit, _, err := db.Audit(ctx, AuditFilter{AccountID: "acme"}, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action+" by "+e.Actor.Name+" "+e.Before+">"+e.After)
	}
	want := []string{"ApproveTicket by ops-alice suspended>probation", "AddTicketComment by ops-alice >", "CreateTicket by platform-a >open"}
	if len(actions) != len(want) {
		t.Fatalf("audit: got %q, want %q", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Errorf("audit %d: got %q, want %q", i, actions[i], want[i])
		}
	}
}

func TestManualSuspensionAndAcknowledgement(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	ctx := context.Background()
	if _, err := db.SuspendAccount(ctx, "nobody", monitor.CategoryFraud, "note", admin); !errors.Is(err, monitor.ErrNotFound) {
		t.Fatalf("unknown account: got %v, want ErrNotFound", err)
	}
	ingest(t, db, events("acme", "s", monitor.EventSend, 1000, t0))
	ingest(t, db, events("acme", "b", monitor.EventBounce, 25, t0)) // 2.5 %: warning
	if _, err := db.AcknowledgeWarning(ctx, "acme", "", platform); !errors.Is(err, monitor.ErrInvalid) {
		t.Fatalf("acknowledging without a note: got %v, want ErrInvalid", err)
	}
	a, err := db.AcknowledgeWarning(ctx, "acme", "Cleaning the list.", platform)
	if err != nil || a.State.AckNote != "Cleaning the list." {
		t.Fatalf("acknowledge: %+v, %v", a.State, err)
	}
	a, err = db.SuspendAccount(ctx, "acme", monitor.CategoryDirectComplaints, "Recipients wrote to abuse@.", admin)
	if err != nil || a.State.Phase != monitor.PhaseSuspended || a.State.Category != monitor.CategoryDirectComplaints {
		t.Fatalf("suspend: %+v, %v", a.State, err)
	}
	audit, _, err := db.Audit(ctx, AuditFilter{Actor: "ops-alice"}, 10, "")
	if err != nil || len(audit) != 1 || audit[0].Action != "SuspendAccount" || audit[0].Before != "warning" || audit[0].After != "suspended" {
		t.Fatalf("audit by ops-alice: %+v, %v", audit, err)
	}
}
