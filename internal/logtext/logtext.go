// Package logtext makes text from outside (a post, a message, a reason
// quoting them) fit a log line or a plain-text answer.
package logtext

import (
	"strings"
	"unicode"
)

// MaxLen bounds what Clean returns, in bytes, before its ellipsis.
const MaxLen = 300

// Clean returns s as valid UTF-8 without control or invisible formatting
// characters (which could forge log lines, drive a terminal or reorder
// what is shown), each replaced by a space, cut to MaxLen bytes.
func Clean(s string) string {
	s = Printable(s, ' ')
	if len(s) > MaxLen {
		s = strings.ToValidUTF8(s[:MaxLen], "") + "…"
	}
	return s
}

// Printable returns s as valid UTF-8 (invalid bytes become U+FFFD) with
// each control or invisible formatting character, and each line or
// paragraph separator, replaced by with.
func Printable(s string, with rune) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return with
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}
