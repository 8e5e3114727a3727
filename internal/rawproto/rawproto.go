// Package rawproto lets tests send bytes that are already a serialized
// message: a request no Go client would marshal (a string that is not
// UTF-8 in a well-known type), or one large body shared by many calls so
// that the memory measured is the server's.
package rawproto

import "google.golang.org/grpc/mem"

// Codec passes []byte through as the "proto" codec: pass it with
// grpc.ForceCodecV2, and a *[]byte to receive the reply.
type Codec struct{}

// Marshal returns v, a []byte, as it is.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

// Unmarshal copies the reply into v, a *[]byte.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// Name is the content subtype the server expects.
func (Codec) Name() string { return "proto" }
