package main

import (
	"context"
	"fmt"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// runHealth asks the server's gRPC health service whether it serves, for
// container health checks and probes: exit 0 when SERVING, 1 otherwise.
func runHealth(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "health", "")
	if _, err := fs.parseN(args, 0, 0); err != nil {
		return err
	}
	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health: %s", resp.GetStatus())
	}
	_, err = fmt.Fprintln(e.stdout, "SERVING")
	return err
}
