package main

import (
	"testing"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

func TestPercent(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{0, "0%"},
		{0.025, "2.50%"},
		{0.001, "0.10%"},
		{0.0008, "0.080%"},
		{0.00001, "0.001%"},
		{1, "100.00%"},
	}
	for _, tt := range tests {
		if got := percent(tt.f); got != tt.want {
			t.Errorf("percent(%v): got %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestParsePhase(t *testing.T) {
	tests := []struct {
		in      string
		want    dpmonv1.Phase
		wantErr bool
	}{
		{"", dpmonv1.Phase_PHASE_UNSPECIFIED, false},
		{"healthy", dpmonv1.Phase_PHASE_HEALTHY, false},
		{"Warning", dpmonv1.Phase_PHASE_WARNING, false},
		{"PHASE_SUSPENDED", dpmonv1.Phase_PHASE_SUSPENDED, false},
		{"probation", dpmonv1.Phase_PHASE_PROBATION, false},
		{"unspecified", 0, true},
		{"sick", 0, true},
	}
	for _, tt := range tests {
		got, err := parsePhase(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parsePhase(%q): got error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("parsePhase(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestPhaseNameRoundTrips(t *testing.T) {
	for _, p := range []dpmonv1.Phase{dpmonv1.Phase_PHASE_HEALTHY, dpmonv1.Phase_PHASE_WARNING, dpmonv1.Phase_PHASE_SUSPENDED, dpmonv1.Phase_PHASE_PROBATION} {
		got, err := parsePhase(phaseName(p))
		if err != nil || got != p {
			t.Errorf("parsePhase(phaseName(%v)): got %v, %v; want %v", p, got, err, p)
		}
	}
}
