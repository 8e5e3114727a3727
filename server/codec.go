package server

import (
	"strings"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/internal/eventwire"
)

// codec is grpc's proto codec, with buffers that are not cleared and
// event batches read without reflection (see eventwire), and one repair.
// dpmon's protos leave UTF-8 to the service (see utf8.go), but an update
// mask is a google.protobuf.FieldMask, whose
// own proto3 file has protobuf refuse a path that is not UTF-8 while grpc
// decodes, which grpc answers INTERNAL before any check of ours runs.
// When that happens, the codec decodes the request again with the mask's
// bad bytes replaced by U+FFFD: the mask is then refused like any unknown
// path, INVALID_ARGUMENT naming update_mask.
type codec struct{ eventwire.Codec }

func newCodec() codec { return codec{eventwire.NewCodec(MaxBatchEvents)} }

// updateMaskField is update_mask's field number in UpdateAccountRequest.
var updateMaskField = (&pb.UpdateAccountRequest{}).ProtoReflect().Descriptor().Fields().ByName("update_mask").Number()

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.Codec.Unmarshal(data, v)
	req, ok := v.(*pb.UpdateAccountRequest)
	if err == nil || !ok {
		return err
	}
	repaired, ok := repairMask(data.Materialize(), updateMaskField)
	if !ok {
		return err
	}
	return proto.Unmarshal(repaired, req)
}

// repairMask copies the wire form of a message, replacing what is not
// UTF-8 in the paths (field 1) of its FieldMask field number by U+FFFD;
// ok is false when the bytes do not parse.
func repairMask(b []byte, field protoreflect.FieldNumber) (out []byte, ok bool) {
	return rewriteField(b, field, func(mask []byte) ([]byte, bool) {
		return rewriteField(mask, 1, func(path []byte) ([]byte, bool) {
			return []byte(strings.ToValidUTF8(string(path), "\uFFFD")), true
		})
	})
}

// rewriteField copies the wire form of a message with the value of each
// length-delimited field num replaced by what rewrite makes of it; ok is
// false when the bytes, or rewrite, do not parse.
func rewriteField(b []byte, num protoreflect.FieldNumber, rewrite func([]byte) ([]byte, bool)) (out []byte, ok bool) {
	for len(b) > 0 {
		n, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return nil, false
		}
		valueLen := protowire.ConsumeFieldValue(n, typ, b[tagLen:])
		if valueLen < 0 {
			return nil, false
		}
		if n != num || typ != protowire.BytesType {
			out = append(out, b[:tagLen+valueLen]...)
		} else {
			value, _ := protowire.ConsumeBytes(b[tagLen:])
			if value, ok = rewrite(value); !ok {
				return nil, false
			}
			out = protowire.AppendBytes(protowire.AppendTag(out, n, typ), value)
		}
		b = b[tagLen+valueLen:]
	}
	return out, true
}
