package main

import (
	"errors"
	"flag"
	"io"
	"slices"
	"testing"
)

func TestFlagSetParseInterspersed(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		operands []string
		limit    int
	}{
		{"flags first", []string{"--limit", "5", "acme"}, []string{"acme"}, 5},
		{"flags last", []string{"acme", "--limit", "5"}, []string{"acme"}, 5},
		{"mixed", []string{"a", "-limit=5", "b"}, []string{"a", "b"}, 5},
		{"dash is an operand", []string{"-"}, []string{"-"}, 1},
		{"double dash ends flags", []string{"--", "-limit"}, []string{"-limit"}, 1},
		{"double dash after operand", []string{"a", "--", "-limit", "b"}, []string{"a", "-limit", "b"}, 1},
		{"none", nil, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &env{globals: defaultGlobals(), stderr: io.Discard}
			fs := newFlagSet(e, "test", "ARGS")
			limit := fs.Int("limit", 1, "")
			got, err := fs.parse(tt.args)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !slices.Equal(got, tt.operands) {
				t.Errorf("operands: got %q, want %q", got, tt.operands)
			}
			if *limit != tt.limit {
				t.Errorf("limit: got %d, want %d", *limit, tt.limit)
			}
		})
	}
}

func TestFlagSetErrors(t *testing.T) {
	e := &env{globals: defaultGlobals(), stderr: io.Discard}
	fs := newFlagSet(e, "account get", "ID")
	if _, err := fs.parseN([]string{"a", "b"}, 1, 1); !errors.As(err, new(usageError)) {
		t.Errorf("two operands: got %v, want a usageError", err)
	}
	fs = newFlagSet(e, "account get", "ID")
	if _, err := fs.parseN([]string{"--nope"}, 1, 1); !errors.As(err, new(usageError)) {
		t.Errorf("unknown flag: got %v, want a usageError", err)
	}
	fs = newFlagSet(e, "account get", "ID")
	if _, err := fs.parseN([]string{"-h"}, 1, 1); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: got %v, want flag.ErrHelp", err)
	}
}

func TestGlobalFlagsEverywhere(t *testing.T) {
	t.Setenv("DPMON_ADDR", "env:1")
	e := &env{globals: defaultGlobals(), stderr: io.Discard}
	if e.addr != "env:1" {
		t.Errorf("addr from DPMON_ADDR: got %s, want env:1", e.addr)
	}
	fs := newFlagSet(e, "check-send", "ID")
	if _, err := fs.parse([]string{"acme", "-o", "json", "--addr", "flag:2"}); err != nil {
		t.Fatal(err)
	}
	if e.addr != "flag:2" || e.output != formatJSON {
		t.Errorf("got addr %s, output %s; want flag:2, json", e.addr, e.output)
	}
	fs = newFlagSet(e, "check-send", "ID")
	if _, err := fs.parse([]string{"-o", "yaml"}); err == nil {
		t.Error("-o yaml: got no error")
	}
}
