package server

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// Event batches are decoded here rather than by protobuf's reflection:
// that was 15 % of the server's CPU at full speed, two-fifths of it one
// allocation per event and one per timestamp. This decoder allocates a
// batch's events, and their timestamps, as one array each, and reads the
// fields straight into them. It reads what proto.Unmarshal reads, except
// that it drops unknown fields (the server never passes a request on).
// eventwire_test.go holds it to proto.Unmarshal's results.
//
// Field numbers, from proto/dpmon/v1/event.proto.
const (
	ingestEventsField = 1 // IngestEventsRequest.events

	streamBatchIDField = 1 // StreamEventsRequest.batch_id
	streamEventsField  = 2 // StreamEventsRequest.events
)

var errBadWire = errors.New("invalid wire format")

// unmarshalIngestEvents decodes the wire form of an IngestEventsRequest.
func unmarshalIngestEvents(b []byte, req *pb.IngestEventsRequest) error {
	req.Reset()
	events, err := decodeBatch(b, ingestEventsField, nil)
	req.Events = events
	return err
}

// unmarshalStreamEvents decodes the wire form of a StreamEventsRequest.
func unmarshalStreamEvents(b []byte, req *pb.StreamEventsRequest) error {
	req.Reset()
	events, err := decodeBatch(b, streamEventsField, func(num protowire.Number, v []byte) {
		if num == streamBatchIDField {
			req.BatchId = string(v)
		}
	})
	req.Events = events
	return err
}

// decodeBatch decodes the events of a batch message, whose repeated Event
// field is eventsField, and hands its other length-delimited fields to
// other.
func decodeBatch(b []byte, eventsField protowire.Number, other func(protowire.Number, []byte)) ([]*pb.Event, error) {
	n, err := countField(b, eventsField)
	if err != nil {
		return nil, err
	}
	var events []pb.Event
	var stamps []timestamppb.Timestamp
	var out []*pb.Event
	if n > 0 {
		events, stamps, out = make([]pb.Event, n), make([]timestamppb.Timestamp, n), make([]*pb.Event, n)
	}
	i := 0
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case typ != protowire.BytesType:
		case num == eventsField:
			e := &events[i]
			out[i] = e
			if err := decodeEvent(v, e, &stamps[i]); err != nil {
				return fmt.Errorf("events[%d]: %w", i, err)
			}
			i++
		case other != nil:
			other(num, v)
		}
		return nil
	})
	return out, err
}

// countField counts the length-delimited fields num of a message.
func countField(b []byte, num protowire.Number) (int, error) {
	n := 0
	err := eachField(b, func(got protowire.Number, typ protowire.Type, _ []byte, _ uint64) error {
		if got == num && typ == protowire.BytesType {
			n++
		}
		return nil
	})
	return n, err
}

// eachField calls fn with each field of a message's wire form: its
// number, wire type and, for a length-delimited field, its bytes, or for
// a varint its value. Other wire types (fixed, groups) are checked and
// passed with neither.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, bytes []byte, varint uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if num > protowire.MaxValidNumber {
			return fmt.Errorf("field number %d: %w", num, errBadWire)
		}
		b = b[n:]
		var bytes []byte
		var varint uint64
		switch typ {
		case protowire.BytesType:
			bytes, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			varint, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, bytes, varint); err != nil {
			return err
		}
	}
	return nil
}

// decodeEvent merges the wire form of an Event into e; stamp is where its
// occurred_at goes if it has none yet. A field of a known number but
// another wire type is an unknown field, as for proto.Unmarshal.
func decodeEvent(b []byte, e *pb.Event, stamp *timestamppb.Timestamp) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if typ == protowire.VarintType {
			if num == 3 {
				e.Type = pb.EventType(int32(x))
			}
			return nil
		}
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			e.EventId = string(v)
		case 2:
			e.AccountId = string(v)
		case 4:
			if e.OccurredAt == nil {
				e.OccurredAt = stamp
			}
			return decodeTimestamp(v, e.OccurredAt)
		case 5:
			e.Recipient = string(v)
		case 6:
			e.Sender = string(v)
		case 7:
			e.MessageId = string(v)
		case 8:
			if e.Bounce == nil {
				e.Bounce = &pb.Bounce{}
			}
			return decodeBounce(v, e.Bounce)
		case 9:
			if e.Complaint == nil {
				e.Complaint = &pb.Complaint{}
			}
			return decodeStrings(v, &e.Complaint.FeedbackType, &e.Complaint.Source)
		case 10:
			if e.Listing == nil {
				e.Listing = &pb.Listing{}
			}
			return decodeStrings(v, &e.Listing.Blocklist, &e.Listing.Listed)
		}
		return nil
	})
}

func decodeTimestamp(b []byte, t *timestamppb.Timestamp) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
		if typ == protowire.VarintType {
			switch num {
			case 1:
				t.Seconds = int64(x)
			case 2:
				t.Nanos = int32(x)
			}
		}
		return nil
	})
}

func decodeBounce(b []byte, bounce *pb.Bounce) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case typ == protowire.VarintType && num == 1:
			bounce.SmtpCode = uint32(x)
		case typ == protowire.VarintType && num == 4:
			bounce.Class = pb.BounceClass(int32(x))
		case typ == protowire.BytesType && num == 2:
			bounce.EnhancedStatus = string(v)
		case typ == protowire.BytesType && num == 3:
			bounce.Diagnostic = string(v)
		}
		return nil
	})
}

// decodeStrings merges a message of two string fields, 1 and 2.
func decodeStrings(b []byte, first, second *string) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ == protowire.BytesType {
			switch num {
			case 1:
				*first = string(v)
			case 2:
				*second = string(v)
			}
		}
		return nil
	})
}
