package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// runDpctl runs dpctl with args and returns what it wrote.
func runDpctl(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut strings.Builder
	err = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"frobnicate"}},
		{"unknown flag", []string{"--frob", "ingest"}},
		{"missing ID", []string{"account", "get"}},
		{"no account subcommand", []string{"account"}},
		{"bad phase", []string{"account", "list", "--phase", "sick"}},
		{"batch too big", []string{"ingest", "--batch", "10001"}},
		{"bad output", []string{"-o", "yaml", "check-send", "acme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runDpctl(t, tt.args...)
			if !errors.As(err, new(usageError)) {
				t.Errorf("got %v, want a usageError", err)
			}
		})
	}
	if _, stderr, err := runDpctl(t, "-h"); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "check-send") {
		t.Errorf("-h: got %v and %q, want flag.ErrHelp and the command list", err, stderr)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestVersion(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "dpctl ") || !strings.Contains(out.String(), " go1.") {
		t.Errorf("dpctl version: %q, %v; want the version and the Go version", out.String(), err)
	}
}
