package server

import (
	"context"
	"strconv"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
)

// The protos turn off protobuf's own UTF-8 check of strings (see
// proto/dpmon/v1), which failed a whole call as INTERNAL. In its place,
// every request is checked here, before its handler, and a string that is
// not UTF-8 is answered INVALID_ARGUMENT naming its field.

// eventDescriptor is the one message the check leaves alone: each event of
// a batch is judged on its own by monitor.Event.Validate, so that one bad
// event does not fail the others.
var eventDescriptor = (&pb.Event{}).ProtoReflect().Descriptor()

// checkUTF8 returns INVALID_ARGUMENT naming the first string of req found
// not to be valid UTF-8, or nil.
func checkUTF8(req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	if fe, bad := invalidUTF8(m.ProtoReflect()); bad {
		return invalidArgument(fe)
	}
	return nil
}

// invalidUTF8 looks through the fields that are set in m, into nested
// messages, lists and maps, for a string that is not valid UTF-8, and
// names the first it finds by its path: "recipients[3]",
// "checklist.list_source", `policy_overrides.min_sends["24h"]`. The path
// is built only once one is found, so a good request costs a walk.
func invalidUTF8(m protoreflect.Message) (fe monitor.FieldError, bad bool) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fe, bad = fieldUTF8(fd, v)
		return !bad
	})
	return fe, bad
}

func fieldUTF8(fd protoreflect.FieldDescriptor, v protoreflect.Value) (fe monitor.FieldError, bad bool) {
	if fd.Message() == eventDescriptor {
		return fe, false
	}
	name := string(fd.Name())
	switch {
	case fd.IsMap():
		stringKeys := fd.MapKey().Kind() == protoreflect.StringKind
		v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			key := k.String()
			if stringKeys {
				if !utf8.ValidString(key) {
					fe, bad = monitor.FieldError{Field: name + "[" + strconv.Quote(key) + "]", Reason: "has a key that is not valid UTF-8"}, true
					return false
				}
				key = strconv.Quote(key) // so that a key with '"' or ']' reads as one
			}
			if fe, bad = valueUTF8(fd.MapValue(), v); bad {
				fe.Field = name + "[" + key + "]" + fe.Field
			}
			return !bad
		})
	case fd.IsList():
		l := v.List()
		for i := range l.Len() {
			if fe, bad = valueUTF8(fd, l.Get(i)); bad {
				fe.Field = name + "[" + strconv.Itoa(i) + "]" + fe.Field
				break
			}
		}
	default:
		if fe, bad = valueUTF8(fd, v); bad {
			fe.Field = name + fe.Field
		}
	}
	return fe, bad
}

// valueUTF8 checks one value of field fd; the path it returns is relative
// to the value: "" for the value itself, ".field..." within a message.
func valueUTF8(fd protoreflect.FieldDescriptor, v protoreflect.Value) (fe monitor.FieldError, bad bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if !utf8.ValidString(v.String()) {
			return monitor.FieldError{Reason: "is not valid UTF-8"}, true
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if fe, bad = invalidUTF8(v.Message()); bad {
			fe.Field = "." + fe.Field
		}
	}
	return fe, bad
}

// unaryUTF8 and streamUTF8 run checkUTF8 on every request a call receives.
func unaryUTF8(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := checkUTF8(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func streamUTF8(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, utf8Stream{ss})
}

type utf8Stream struct{ grpc.ServerStream }

func (s utf8Stream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return checkUTF8(m)
}
