package server

import (
	"errors"
	"time"
)

// Limits bound what callers may make the server hold; a zero field takes
// its default (see withDefaults).
type Limits struct {
	// MaxMessageBytes is the largest request message grpc reads; a larger
	// one is refused from its length prefix, before it is read.
	MaxMessageBytes int
	// MaxDecodingBytes bounds the memory of the authenticated requests
	// being read, decoded and handled at once, each counted RequestCopies
	// times (see decodeGate): a unary or server-streaming call reserves
	// that for MaxMessageBytes before its request is read (it does not
	// know the size sooner) and keeps it for the actual size until it
	// ends; an event stream reserves each batch once it is read, and reads
	// no other until there is room. A call that finds no room waits, and
	// HTTP/2 flow control holds its client to one window meanwhile.
	MaxDecodingBytes int64
	// MaxStreamsPerPeer bounds the calls in progress from one address
	// (an IPv4 address, or an IPv6 /64), over all its connections.
	MaxStreamsPerPeer int
	// MaxEventStreams bounds the open StreamEvents calls: each may hold one
	// batch it has read beyond the decoding budget.
	MaxEventStreams int
	// MaxUnauthenticatedCalls bounds the health checks in progress, the
	// only calls without credentials (reflection needs one when there is a
	// token file). They are kept apart from the decoding budget, so that
	// nobody unauthenticated can hold it; each reads at most one message.
	MaxUnauthenticatedCalls int
	// MaxRefusalsPerPeer is how many calls from one address may come
	// without a valid credential in a minute before the address is cut off
	// for a minute (see Options.Ban).
	MaxRefusalsPerPeer int
	// NewAccountsPerMinute is how many accounts one credential may create
	// in a minute (and at once); an open server's callers are not limited.
	NewAccountsPerMinute int
}

// RequestCopies is how many times a request is in memory at its peak: the
// HTTP/2 frames as they arrive, the contiguous copy grpc decodes from,
// and the decoded message (protobuf copies its strings out).
const RequestCopies = 3

// Default limits.
const (
	DefaultMaxMessageBytes         = 16 << 20
	DefaultMaxDecodingBytes        = 256 << 20
	DefaultMaxStreamsPerPeer       = 1024
	DefaultMaxEventStreams         = 32
	DefaultMaxUnauthenticatedCalls = 8
	DefaultMaxRefusalsPerPeer      = 100
	DefaultNewAccountsPerMinute    = 10_000
)

// How long a call may take to send its request once its headers are in:
// past that it is cut off, so that a stalled client does not keep what it
// reserved. A health check is a few bytes; a batch of 16 MiB needs a
// while on a slow link.
const (
	requestTimeout       = 30 * time.Second
	healthRequestTimeout = 5 * time.Second
	// unauthenticatedPerPeer bounds one address's health checks: a prober
	// makes one at a time, an orchestrator's liveness and readiness probes
	// two.
	unauthenticatedPerPeer = 2
	// banFor is how long an address is cut off after too many refusals.
	banFor = time.Minute
)

// withDefaults fills the zero fields, so that tests and embedders name
// only the limits they mean.
func (l Limits) withDefaults() Limits {
	for _, f := range []struct {
		v   *int
		def int
	}{
		{&l.MaxMessageBytes, DefaultMaxMessageBytes}, {&l.MaxStreamsPerPeer, DefaultMaxStreamsPerPeer},
		{&l.MaxEventStreams, DefaultMaxEventStreams}, {&l.MaxUnauthenticatedCalls, DefaultMaxUnauthenticatedCalls},
		{&l.MaxRefusalsPerPeer, DefaultMaxRefusalsPerPeer}, {&l.NewAccountsPerMinute, DefaultNewAccountsPerMinute},
	} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	if l.MaxDecodingBytes <= 0 {
		l.MaxDecodingBytes = DefaultMaxDecodingBytes
	}
	// A message must fit in the budget, or it would wait for ever.
	l.MaxDecodingBytes = max(l.MaxDecodingBytes, RequestCopies*int64(l.MaxMessageBytes))
	return l
}

// Validate refuses limits a server could not keep.
func (l Limits) Validate() error {
	switch {
	case l.MaxMessageBytes < 64<<10 || l.MaxMessageBytes > 256<<20:
		return errors.New("limits.max_message_bytes must be between 64KiB and 256MiB")
	case l.MaxDecodingBytes < RequestCopies*int64(l.MaxMessageBytes):
		return errors.New("limits.max_decoding_bytes must hold a message of limits.max_message_bytes three times over (its frames as they arrive, the copy grpc decodes, the decoded message)")
	case l.MaxStreamsPerPeer <= 0, l.MaxEventStreams <= 0, l.MaxUnauthenticatedCalls <= 0, l.MaxRefusalsPerPeer <= 0, l.NewAccountsPerMinute <= 0:
		return errors.New("limits: max_streams_per_peer, max_event_streams, max_unauthenticated_calls, max_refusals_per_peer and new_accounts_per_minute must be positive")
	}
	return nil
}
