package monitor

import (
	"strconv"
	"strings"
)

// MaxNoteLen bounds the texts people write: acknowledgements, suspension
// notes, tickets and their comments.
const MaxNoteLen = 8192

// noteErrors returns why a required text people write is not acceptable,
// or nil: it must be valid UTF-8 of at most MaxNoteLen bytes; line breaks
// and tabs are allowed, other control characters not.
func noteErrors(field, note string) FieldErrors {
	if strings.TrimSpace(note) == "" {
		return FieldErrors{{field, "is required"}}
	}
	if len(note) > MaxNoteLen {
		return FieldErrors{{field, "is longer than " + strconv.Itoa(MaxNoteLen) + " bytes"}}
	}
	for _, line := range strings.FieldsFunc(note, func(r rune) bool { return r == '\n' || r == '\r' || r == '\t' }) {
		if reason := CheckText(line, MaxNoteLen); reason != "" {
			return FieldErrors{{field, reason}}
		}
	}
	return nil
}
