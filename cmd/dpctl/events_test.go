package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestEventReaderReadsLines(t *testing.T) {
	f, err := os.Open("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := newEventReader(f)

	var ids []string
	var lines []int
	for {
		ev, line, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		ids = append(ids, ev.GetEventId())
		lines = append(lines, line)
	}
	if got, want := strings.Join(ids, ","), "e1,e2,e3,e4,e1,e5"; got != want {
		t.Errorf("event IDs: got %s, want %s", got, want)
	}
	// Blank lines, even ones of spaces, are skipped but counted.
	wantLines := []int{1, 2, 4, 5, 7, 8}
	if !slices.Equal(lines, wantLines) {
		t.Errorf("lines: got %v, want %v", lines, wantLines)
	}
}

func TestEventReaderNamesBadLine(t *testing.T) {
	tests := []struct {
		name  string
		input string
		line  int
	}{
		{"bad timestamp", "{\"event_id\":\"e1\"}\n\n{\"occurred_at\":\"yesterday\"}\n", 3},
		{"not JSON", "{\"event_id\":\"e1\"}\nevent e2\n", 2},
		{"unknown field", "{\"event\":\"e1\"}\n", 1},
		{"unknown enum", "{\"type\":\"EVENT_TYPE_READ_RECEIPT\"}\n", 1},
		{"two objects", "{\"event_id\":\"e1\"} {\"event_id\":\"e2\"}\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newEventReader(strings.NewReader(tt.input))
			var err error
			for err == nil {
				_, _, err = r.Read()
			}
			if errors.Is(err, io.EOF) {
				t.Fatalf("got EOF, want an error on line %d", tt.line)
			}
			if want := fmt.Sprintf("line %d:", tt.line); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got %q, want it to start with %q", err, want)
			}
		})
	}
}

func TestEventReaderLastLineWithoutNewline(t *testing.T) {
	r := newEventReader(strings.NewReader("{\"event_id\":\"e1\"}\r\n{\"event_id\":\"e2\"}"))
	for _, want := range []string{"e1", "e2"} {
		ev, _, err := r.Read()
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if ev.GetEventId() != want {
			t.Errorf("got %s, want %s", ev.GetEventId(), want)
		}
	}
	if _, _, err := r.Read(); !errors.Is(err, io.EOF) {
		t.Errorf("got %v, want EOF", err)
	}
}
