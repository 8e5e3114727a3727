package wirebuf

import (
	"strings"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestPoolHandsOutTheLengthAskedFromItsTier(t *testing.T) {
	p := &Pool{}
	for _, c := range []struct{ n, cap int }{
		{0, 4096}, {1, 4096}, {4096, 4096}, {4097, 8192}, {100_000, 131072}, {1 << 26, 1 << 26}, {1<<26 + 1, 1<<26 + 1},
	} {
		b := p.Get(c.n)
		if len(*b) != c.n || cap(*b) != c.cap {
			t.Errorf("Get(%d): length %d, capacity %d; want %d, %d", c.n, len(*b), cap(*b), c.n, c.cap)
		}
		p.Put(b)
	}
}

// A message read in pieces, as grpc reads it in frames, is put together in
// a pooled buffer that held another message before: what was left there
// must not show through.
func TestCodecReadsAMessageInPiecesThroughAReusedBuffer(t *testing.T) {
	c := NewCodec()
	long, err := structpb.NewValue(strings.Repeat("x", 200_000))
	if err != nil {
		t.Fatal(err)
	}
	short, err := structpb.NewValue(strings.Repeat("y", 70_000))
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []*structpb.Value{long, short, long} {
		data, err := c.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		wire := data.Materialize()
		data.Free()
		var pieces mem.BufferSlice
		for len(wire) > 0 {
			n := min(len(wire), 16384)
			pieces = append(pieces, mem.SliceBuffer(wire[:n]))
			wire = wire[n:]
		}
		got := &structpb.Value{}
		if err := c.Unmarshal(pieces, got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, msg) {
			t.Errorf("read back a message of %d bytes, want %d", len(got.GetStringValue()), len(msg.GetStringValue()))
		}
	}
}
