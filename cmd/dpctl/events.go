package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// maxLineBytes bounds one input line; an event with a full 4 KiB bounce
// diagnostic is far smaller.
const maxLineBytes = 1 << 20

// eventReader reads events written as JSON lines: one protojson
// dpmon.v1.Event per line, blank lines ignored.
type eventReader struct {
	scanner *bufio.Scanner
	line    int
}

// newEventReader returns an eventReader reading from r.
func newEventReader(r io.Reader) *eventReader {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	return &eventReader{scanner: s}
}

// Read returns the next event and the line it was on, counting from 1.
// At the end of the input it returns io.EOF; an error about the input
// names the line.
func (r *eventReader) Read() (*dpmonv1.Event, int, error) {
	for r.scanner.Scan() {
		r.line++
		text := bytes.TrimSpace(r.scanner.Bytes())
		if len(text) == 0 {
			continue
		}
		ev := new(dpmonv1.Event)
		if err := protojson.Unmarshal(text, ev); err != nil {
			return nil, r.line, fmt.Errorf("line %d: %w", r.line, err)
		}
		return ev, r.line, nil
	}
	if err := r.scanner.Err(); err != nil {
		return nil, r.line + 1, fmt.Errorf("line %d: %w", r.line+1, err)
	}
	return nil, r.line, io.EOF
}
