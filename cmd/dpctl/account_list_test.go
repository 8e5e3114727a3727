package main

import (
	"strings"
	"testing"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

func TestPrintAccounts(t *testing.T) {
	accounts := []*dpmonv1.Account{
		cannedAccount(),
		{AccountId: "beta", Phase: dpmonv1.Phase_PHASE_HEALTHY, PhaseSince: ts("2026-11-01T00:00:00Z")},
	}
	var b strings.Builder
	if err := printAccounts(&b, accounts); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "account_list.golden", b.String())
}

func TestSummaryWindow(t *testing.T) {
	acc := &dpmonv1.Account{Windows: []*dpmonv1.WindowStats{{Name: "1h"}, {Name: "7d"}}}
	if got := summaryWindow(acc).GetName(); got != "1h" {
		t.Errorf("without 24h: got %s, want the shortest, 1h", got)
	}
	if got := summaryWindow(cannedAccount()).GetName(); got != "24h" {
		t.Errorf("got %s, want 24h", got)
	}
	if got := summaryWindow(&dpmonv1.Account{}); got != nil {
		t.Errorf("no windows: got %v, want nil", got)
	}
}
