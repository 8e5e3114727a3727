package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// format is how a command prints its result: a table for people or a
// single JSON object for scripts.
type format string

const (
	formatTable format = "table"
	formatJSON  format = "json"
)

// String implements flag.Value.
func (f *format) String() string { return string(*f) }

// Set implements flag.Value.
func (f *format) Set(s string) error {
	switch format(s) {
	case formatTable, formatJSON:
		*f = format(s)
		return nil
	}
	return fmt.Errorf("unknown format %q, want table or json", s)
}

// protoJSON prints responses with the proto field names, which are also
// what "dpctl ingest" reads, and with zero values spelled out, so that
// scripts can rely on "allowed": false being present.
var protoJSON = protojson.MarshalOptions{
	Multiline:         true,
	Indent:            "  ",
	UseProtoNames:     true,
	EmitDefaultValues: true,
}

// writeProto writes m to w as one JSON object.
func writeProto(w io.Writer, m proto.Message) error {
	b, err := protoJSON.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeJSON writes v, a plain Go value, to w as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable returns a tabwriter for aligned, tab-separated columns; the
// caller must Flush it.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}
