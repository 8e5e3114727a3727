// Package wirebuf is grpc's proto codec with buffers that are not cleared.
//
// grpc's codec takes its buffers from grpc's default pool, which clears a
// buffer whole before handing it out again and whose tiers jump from
// 32 KiB to 1 MiB: each batch of a thousand events (about 100 KB) cleared a
// megabyte, on both ends. The codec here overwrites every byte it asks for
// (a message is marshalled into exactly its size, or copied whole into the
// buffer it is read from), so its pool hands buffers out as they are, from
// tiers at every power of two.
package wirebuf

import (
	"fmt"
	"math/bits"
	"sync"

	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Codec is a grpc proto codec whose buffers come from its own Pool. Its
// zero value is not usable; see NewCodec.
type Codec struct {
	pool *Pool
}

var _ encoding.CodecV2 = Codec{}

// NewCodec returns a codec with a pool of its own.
func NewCodec() Codec { return Codec{pool: &Pool{}} }

// Name is grpc's proto codec name: the codec stands in for it.
func (Codec) Name() string { return protocodec.Name }

// Marshal encodes v, a proto message, into one buffer of its exact size.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal: message is %T, want proto.Message", v)
	}
	// UseCachedSize reuses what Size just worked out; the message must not
	// change in between, as grpc's own codec assumes too.
	opts := proto.MarshalOptions{UseCachedSize: true}
	var err error
	out, sizeErr := c.Encode(proto.Size(m), func(b []byte) []byte {
		b, err = opts.MarshalAppend(b, m)
		return b
	})
	if err != nil {
		return nil, err
	}
	return out, sizeErr
}

// Encode returns a message of size bytes, which encode appends to the
// empty buffer it is given: an encoder of its own for a message grpc sends.
func (c Codec) Encode(size int, encode func([]byte) []byte) (mem.BufferSlice, error) {
	if mem.IsBelowBufferPoolingThreshold(size) {
		b := encode(make([]byte, 0, size))
		if len(b) != size {
			return nil, fmt.Errorf("encode: wrote %d bytes, want %d", len(b), size)
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	buf := c.pool.Get(size)
	b := encode((*buf)[:0])
	if len(b) != size {
		c.pool.Put(buf)
		return nil, fmt.Errorf("encode: wrote %d bytes, want %d", len(b), size)
	}
	*buf = b
	return mem.BufferSlice{mem.NewBuffer(buf, c.pool)}, nil
}

// Unmarshal decodes data into v, a proto message.
func (c Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("unmarshal: message is %T, want proto.Message", v)
	}
	return c.Decode(data, func(b []byte) error { return proto.Unmarshal(b, m) })
}

// Decode hands decode the message data holds, in one piece: a decoder of
// its own for a message grpc receives. decode must not keep the bytes.
func (c Codec) Decode(data mem.BufferSlice, decode func([]byte) error) error {
	buf := data.MaterializeToBuffer(c.pool)
	defer buf.Free()
	return decode(buf.ReadOnlyData())
}

// Pool is a mem.BufferPool of buffers in tiers at every power of two from
// 4 KiB to 64 MiB. It does not clear what it hands out: a buffer holds
// what its last user left, so every user must overwrite what it reads.
type Pool struct {
	tiers [maxShift - minShift + 1]sync.Pool
}

const (
	minShift = 12 // 4 KiB
	maxShift = 26 // 64 MiB
)

// tier returns the index of the smallest tier that holds n bytes, or -1
// when n is beyond the largest.
func tier(n int) int {
	shift := minShift
	if n > 1<<minShift {
		shift = bits.Len(uint(n - 1))
	}
	if shift > maxShift {
		return -1
	}
	return shift - minShift
}

// Get returns a buffer of length n.
func (p *Pool) Get(n int) *[]byte {
	t := tier(n)
	if t < 0 {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.tiers[t].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<(t+minShift))
	return &b
}

// Put returns a buffer that Get handed out.
func (p *Pool) Put(b *[]byte) {
	c := cap(*b)
	if t := tier(c); t >= 0 && c == 1<<(t+minShift) {
		p.tiers[t].Put(b)
	}
}
