package main

import (
	"strings"
	"testing"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

func TestPrintTransitions(t *testing.T) {
	transitions := []*dpmonv1.Transition{
		{
			AccountId: "acme", OccurredAt: ts("2026-11-24T10:00:00Z"),
			From: dpmonv1.Phase_PHASE_HEALTHY, To: dpmonv1.Phase_PHASE_WARNING,
			Reason: "Hard bounces reached 2.50 % of sends over 24h.",
		},
		{
			AccountId: "acme", OccurredAt: ts("2026-11-01T08:30:00Z"),
			From: dpmonv1.Phase_PHASE_UNSPECIFIED, To: dpmonv1.Phase_PHASE_HEALTHY,
		},
	}
	var b strings.Builder
	if err := printTransitions(&b, transitions); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "account_history.golden", b.String())
}
