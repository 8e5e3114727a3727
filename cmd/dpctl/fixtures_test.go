package main

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// ts returns the timestamp of an RFC 3339 time, for fixtures.
func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

// cannedAccount is an account in warning, with one breach in its 24-hour
// window and a weekly window too small to judge.
func cannedAccount() *dpmonv1.Account {
	return &dpmonv1.Account{
		AccountId:   "acme",
		DisplayName: "Acme Corp",
		Phase:       dpmonv1.Phase_PHASE_WARNING,
		PhaseSince:  ts("2026-11-24T10:00:00Z"),
		PhaseReason: "Hard bounces reached 2.50 % of sends over 24h.",
		Windows: []*dpmonv1.WindowStats{
			{
				Name: "1h", Length: durationpb.New(time.Hour),
				Sends: 120, HardBounces: 1, Complaints: 0,
				HardBounceRate: 1.0 / 120, HardBounceRateCi: &dpmonv1.ConfidenceInterval{Lower: 0.0015, Upper: 0.0457},
				ComplaintRate: 0, ComplaintRateCi: &dpmonv1.ConfidenceInterval{Lower: 0, Upper: 0.031},
				MinSends: 500, BelowMinVolume: true,
			},
			{
				Name: "24h", Length: durationpb.New(24 * time.Hour),
				Sends: 12000, HardBounces: 300, Complaints: 10,
				HardBounceRate: 0.025, HardBounceRateCi: &dpmonv1.ConfidenceInterval{Lower: 0.02236, Upper: 0.02794},
				ComplaintRate: 10.0 / 12000, ComplaintRateCi: &dpmonv1.ConfidenceInterval{Lower: 0.00045, Upper: 0.00153},
				Blocks: 36, BlockRate: 36.0 / 12000, BlockRateCi: &dpmonv1.ConfidenceInterval{Lower: 0.00217, Upper: 0.00415},
				MinSends: 1000,
			},
		},
		Findings: []*dpmonv1.Finding{{
			Metric:    dpmonv1.Metric_METRIC_HARD_BOUNCE_RATE,
			Window:    "24h",
			Value:     0.025,
			Interval:  &dpmonv1.ConfidenceInterval{Lower: 0.02236, Upper: 0.02794},
			Threshold: 0.02,
			Severity:  dpmonv1.Severity_SEVERITY_WARNING,
			Decision:  dpmonv1.Decision_DECISION_CONFIDENT,
			Sends:     12000,
			Message:   "One send in forty bounces hard: the list has addresses that do not exist.",
			Recommendations: []string{
				"Remove addresses that hard-bounced.",
				"Confirm new sign-ups by double opt-in.",
			},
		}},
	}
}
