package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

func TestAuditPages(t *testing.T) {
	c := monitortest.New(t0)
	db := testDB(t, t.TempDir(), c)
	ctx := context.Background()
	for i := range 5 {
		c.Set(t0.Add(time.Duration(i) * time.Hour))
		if _, err := db.UpdateAccount(ctx, "acme", admin, func(a *monitor.Account) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	var got []time.Time
	token := ""
	for {
		page, next, err := db.Audit(ctx, AuditFilter{Since: t0.Add(time.Hour)}, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			got = append(got, e.At)
		}
		if next == "" {
			break
		}
		token = next
	}
	if len(got) != 4 || !got[0].Equal(t0.Add(4*time.Hour)) || !got[3].Equal(t0.Add(time.Hour)) {
		t.Errorf("got %v, want the 4 events since +1h, newest first", got)
	}
	if _, _, err := db.Audit(ctx, AuditFilter{}, 2, "x"); !errors.Is(err, monitor.ErrInvalid) {
		t.Errorf("bad page token: got %v, want ErrInvalid", err)
	}
}
