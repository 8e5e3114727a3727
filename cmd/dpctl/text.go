package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// phaseName returns p as people write it: "healthy", "suspended".
func phaseName(p dpmonv1.Phase) string {
	return enumName(p.String(), "PHASE_")
}

// parsePhase parses a phase as phaseName prints it, or as the enum's
// own name; the empty string means no phase.
func parsePhase(s string) (dpmonv1.Phase, error) {
	if s == "" {
		return dpmonv1.Phase_PHASE_UNSPECIFIED, nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "PHASE_") {
		name = "PHASE_" + name
	}
	v, ok := dpmonv1.Phase_value[name]
	if !ok || v == int32(dpmonv1.Phase_PHASE_UNSPECIFIED) {
		return 0, fmt.Errorf("unknown phase %q, want healthy, warning, suspended or probation", s)
	}
	return dpmonv1.Phase(v), nil
}

// enumName lower-cases an enum value's name without its prefix and with
// spaces for underscores: METRIC_HARD_BOUNCE_RATE becomes "hard bounce rate".
func enumName(name, prefix string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, prefix)), "_", " ")
}

// formatTime prints a timestamp in UTC, to the second; "-" when unset.
func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// percent prints a fraction as a percentage with enough digits for the
// small rates dpmon deals in: 0.025 is "2.50%", 0.0008 is "0.080%".
func percent(f float64) string {
	p := f * 100
	switch {
	case p == 0:
		return "0%"
	case p < 0.1:
		return strconv.FormatFloat(p, 'f', 3, 64) + "%"
	default:
		return strconv.FormatFloat(p, 'f', 2, 64) + "%"
	}
}

// rateWithCI prints a rate and, when known, its 95 % confidence interval.
func rateWithCI(rate float64, ci *dpmonv1.ConfidenceInterval) string {
	if ci == nil {
		return percent(rate)
	}
	return fmt.Sprintf("%s (%s–%s)", percent(rate), percent(ci.GetLower()), percent(ci.GetUpper()))
}

// summaryWindow returns the window a one-line summary of acc shows: the
// one named "24h", or else the shortest; nil when acc has none.
func summaryWindow(acc *dpmonv1.Account) *dpmonv1.WindowStats {
	for _, w := range acc.GetWindows() {
		if w.GetName() == "24h" {
			return w
		}
	}
	if ws := acc.GetWindows(); len(ws) > 0 {
		return ws[0]
	}
	return nil
}
