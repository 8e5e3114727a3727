package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 50, 7 * time.Millisecond},
		{"one p99", ms(7), 99, 7 * time.Millisecond},
		{"median of odd", ms(1, 2, 3), 50, 2 * time.Millisecond},
		{"median of even", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p100 is max", ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{"tiny p is min", ms(1, 2, 3, 4), 0.1, 1 * time.Millisecond},
		{"p50 of 100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 100", hundred, 99, 99 * time.Millisecond},
		{"p99.9 of 100", hundred, 99.9, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v): got %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestRoundDuration(t *testing.T) {
	if got, want := roundDuration(1234567*time.Nanosecond).String(), "1.235ms"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
