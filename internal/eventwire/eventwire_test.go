package eventwire

import (
	"bytes"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// The event batch decoder must read what proto.Unmarshal reads (without
// the unknown fields it drops): random batches, with fields repeated (a
// later value wins, messages merge), fields of a known number but another
// wire type, and unknown fields of every wire type.
func TestEventBatchDecoderReadsWhatProtobufReads(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		checkEventBatchDecoder(t, randomBatchWire(r))
	}
}

// FuzzDecode holds the decoder to proto.Unmarshal on any bytes:
// both fail, or both read the same.
func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		f.Add(randomBatchWire(r))
	}
	f.Fuzz(checkEventBatchDecoder)
}

// checkEventBatchDecoder decodes b as both batch messages, with the
// decoder and with proto.Unmarshal.
func checkEventBatchDecoder(t *testing.T, b []byte) {
	t.Helper()
	discard := proto.UnmarshalOptions{DiscardUnknown: true}
	{
		want, got := &pb.StreamEventsRequest{}, &pb.StreamEventsRequest{BatchId: "left over"}
		wantErr, err := discard.Unmarshal(b, want), UnmarshalStreamEvents(b, got, 0)
		if (err != nil) != (wantErr != nil) || err == nil && !proto.Equal(got, want) {
			t.Fatalf("StreamEventsRequest %x:\n got %v, %v\nwant %v, %v", b, got, err, want, wantErr)
		}
		// At most 2 allowed: the first 3 events, or all of fewer.
		if err := UnmarshalStreamEvents(b, got, 2); err == nil && wantErr == nil {
			want.Events = want.Events[:min(len(want.Events), 3)]
			if !proto.Equal(got, want) {
				t.Fatalf("StreamEventsRequest %x, at most 2:\n got %v\nwant %v", b, got, want)
			}
		}
	}
	want, got := &pb.IngestEventsRequest{}, &pb.IngestEventsRequest{Events: []*pb.Event{{EventId: "left over"}}}
	wantErr, err := discard.Unmarshal(b, want), UnmarshalIngestEvents(b, got, 0)
	if (err != nil) != (wantErr != nil) || err == nil && !proto.Equal(got, want) {
		t.Fatalf("IngestEventsRequest %x:\n got %v, %v\nwant %v, %v", b, got, err, want, wantErr)
	}
}

// The encoder must write what proto.Marshal writes, byte for byte.
func TestEncoderWritesWhatProtobufWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 3000 {
		var events []*pb.Event
		for range r.IntN(6) {
			e := randomEvent(r)
			if r.IntN(20) == 0 {
				e = nil // protobuf writes it as an empty message
			}
			events = append(events, e)
		}
		stream := &pb.StreamEventsRequest{BatchId: randomString(r), Events: events}
		want, err := proto.Marshal(stream)
		if err != nil {
			t.Fatal(err)
		}
		size, encode := StreamEventsEncoding(stream)
		if got := encode([]byte("x"))[1:]; !bytes.Equal(got, want) || size != len(want) {
			t.Fatalf("%v:\n got %x (size %d)\nwant %x", stream, got, size, want)
		}
		ingest := &pb.IngestEventsRequest{Events: events}
		if want, err = proto.Marshal(ingest); err != nil {
			t.Fatal(err)
		}
		size, encode = IngestEventsEncoding(ingest)
		if got := encode(nil); !bytes.Equal(got, want) || size != len(want) {
			t.Fatalf("%v:\n got %x (size %d)\nwant %x", ingest, got, size, want)
		}
	}
}

// randomBatchWire is the wire form of a random StreamEventsRequest, with
// events appended as raw fields.
func randomBatchWire(r *rand.Rand) []byte {
	b, err := proto.Marshal(&pb.StreamEventsRequest{BatchId: randomString(r)})
	if err != nil {
		panic(err)
	}
	for range r.IntN(6) {
		var event []byte
		// A second part merges into the first.
		for range 1 + r.IntN(2) {
			part, err := proto.Marshal(randomEvent(r))
			if err != nil {
				panic(err)
			}
			event = append(event, part...)
			event = appendOddFields(r, event)
		}
		b = protowire.AppendBytes(protowire.AppendTag(b, streamEventsField, protowire.BytesType), event)
		b = appendOddFields(r, b)
	}
	return b
}

// appendOddFields appends, at random, unknown fields of each wire type
// and known numbers with another wire type than theirs.
func appendOddFields(r *rand.Rand, b []byte) []byte {
	for range r.IntN(3) {
		num := protowire.Number(1 + r.IntN(12))
		if r.IntN(2) == 0 {
			num = protowire.Number(100 + r.IntN(1000))
		}
		switch r.IntN(5) {
		case 0:
			b = protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), r.Uint64())
		case 1:
			b = protowire.AppendFixed32(protowire.AppendTag(b, num, protowire.Fixed32Type), r.Uint32())
		case 2:
			b = protowire.AppendFixed64(protowire.AppendTag(b, num, protowire.Fixed64Type), r.Uint64())
		case 3:
			b = protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), []byte(randomString(r)))
		default:
			b = protowire.AppendTag(b, num, protowire.StartGroupType)
			b = protowire.AppendVarint(protowire.AppendTag(b, 1, protowire.VarintType), r.Uint64())
			b = protowire.AppendTag(b, num, protowire.EndGroupType)
		}
	}
	return b
}

// randomEvent sets each field of an event, or not, at random.
func randomEvent(r *rand.Rand) *pb.Event {
	maybe := func() bool { return r.IntN(3) > 0 }
	e := &pb.Event{}
	if maybe() {
		e.EventId = randomString(r)
	}
	if maybe() {
		e.AccountId = randomString(r)
	}
	if maybe() {
		e.Type = pb.EventType(randomInt32(r))
	}
	if maybe() {
		e.OccurredAt = &timestamppb.Timestamp{Seconds: int64(r.Uint64()), Nanos: randomInt32(r)}
	}
	if maybe() {
		e.Recipient = randomString(r)
	}
	if maybe() {
		e.Sender = randomString(r)
	}
	if maybe() {
		e.MessageId = randomString(r)
	}
	if maybe() {
		e.Bounce = &pb.Bounce{SmtpCode: r.Uint32(), EnhancedStatus: randomString(r), Diagnostic: randomString(r), Class: pb.BounceClass(randomInt32(r))}
	}
	if maybe() {
		e.Complaint = &pb.Complaint{FeedbackType: randomString(r), Source: randomString(r)}
	}
	if maybe() {
		e.Listing = &pb.Listing{Blocklist: randomString(r), Listed: randomString(r)}
	}
	return e
}

// randomString is empty, text, or bytes that need not be UTF-8.
func randomString(r *rand.Rand) string {
	switch r.IntN(3) {
	case 0:
		return ""
	case 1:
		return "user@example.com"
	}
	b := make([]byte, r.IntN(40))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

// randomInt32 is small, or at an edge, or negative.
func randomInt32(r *rand.Rand) int32 {
	return []int32{0, 1, 3, math.MaxInt32, math.MinInt32, -1, int32(r.Uint32())}[r.IntN(7)]
}

// A batch of a million empty events, with at most 10 allowed, decodes into
// 11 and allocates for those only: decoded whole, it took 224 MB.
func TestAnOversizedBatchDecodesOnlyPastTheLimit(t *testing.T) {
	var b []byte
	for range 1_000_000 {
		b = protowire.AppendBytes(protowire.AppendTag(b, streamEventsField, protowire.BytesType), nil)
	}
	req := &pb.StreamEventsRequest{}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := UnmarshalStreamEvents(b, req, 10); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if len(req.GetEvents()) != 11 {
		t.Errorf("decoded %d events, want 11", len(req.GetEvents()))
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
		t.Errorf("decoding allocated %d bytes, want a few kilobytes", n)
	}
}
