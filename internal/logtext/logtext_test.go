package logtext

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain reason", "plain reason"},
		{"line\nforged=1\r", "line forged=1 "},
		{"\x1b[2Jcleared", " [2Jcleared"},
		{"right\u202eto left\u2028next", "right to left next"},
		{"bad \xff byte", "bad \uFFFD byte"},
	} {
		if got := Clean(tc.in); got != tc.want {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := Clean(strings.Repeat("é", MaxLen))
	if !strings.HasSuffix(long, "…") || len(long) > MaxLen+len("…") || !strings.HasPrefix(long, "é") || strings.Contains(long, "\uFFFD") {
		t.Errorf("long: %q", long)
	}
}
