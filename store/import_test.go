package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

func TestImportSuppressionsIsIdempotent(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	ctx := context.Background()
	ingest(t, db, events("acme", "s", monitor.EventSend, 10, t0))
	var rows []monitor.Imported
	for i := range 1000 {
		rows = append(rows, monitor.Imported{Key: fmt.Sprintf("u%d@example.com", i), Reason: monitor.SuppressedUnsubscribed, Since: t0.Add(-time.Hour)})
	}
	added, err := db.ImportSuppressions(ctx, "acme", rows, admin, "sendgrid-unsubscribes.csv")
	if err != nil || added != 1000 {
		t.Fatalf("first import: %d added, %v", added, err)
	}
	if added, err := db.ImportSuppressions(ctx, "acme", rows, admin, "sendgrid-unsubscribes.csv"); err != nil || added != 0 {
		t.Errorf("the same list again: %d added, %v; want none", added, err)
	}
	sups, _, err := db.Suppressions(ctx, "acme", SuppressionFilter{}, "", 2000, t0)
	if err != nil || len(sups) != 1000 || sups[0].State.Reason != monitor.SuppressedUnsubscribed || !sups[0].State.Since.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("suppressions after the import: %d, %v", len(sups), err)
	}
	audit, _, err := db.Audit(ctx, AuditFilter{AccountID: "acme"}, 10, "")
	if err != nil || len(audit) != 2 || audit[0].Action != "ImportSuppressions" || audit[0].Detail != "1000 rows from sendgrid-unsubscribes.csv" {
		t.Errorf("audit: %+v, %v; want one entry per import", audit, err)
	}
}
