package main

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// dialOptions returns how dpctl connects to dpmon. Transport security and
// per-call credentials belong here once the server requires them; every
// command dials through dial, so nothing else has to change.
func dialOptions(g globals) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}
}

// dial returns a client connection to the server at g.addr. It connects
// lazily, on the first call; the caller must Close it.
func dial(g globals) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(g.addr, dialOptions(g)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", g.addr, err)
	}
	return conn, nil
}
