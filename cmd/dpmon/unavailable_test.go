package main

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/store"
)

// retryInfo returns the delay a status asks for, if any.
func retryInfo(err error) (time.Duration, bool) {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

var listeningRE = regexp.MustCompile(`msg="dpmon listening; opening the store" addr=(\S+)`)

// The gRPC port opens before the store: while the store cannot be opened
// (here: another process holds its file, as a server still shutting down
// would), probes get NOT_SERVING and calls UNAVAILABLE with a retry hint,
// not a refused connection; once the file is free, the server serves.
func TestThePortOpensBeforeTheStore(t *testing.T) {
	dir := t.TempDir()
	holder, err := bbolt.Open(filepath.Join(dir, store.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--lock-timeout", "1h"}, func(string) string { return "" }, pw)
		pw.Close()
	}()
	listening, serving := make(chan string, 1), make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				listening <- m[1]
			}
			if addrRE.MatchString(sc.Text()) {
				serving <- struct{}{}
			}
		}
	}()
	var addr string
	select {
	case addr = <-listening:
	case err := <-done:
		t.Fatalf("run ended before it listened: %v", err)
	}
	conn := dial(t, addr)
	health, accounts := healthpb.NewHealthClient(conn), pb.NewAccountServiceClient(conn)
	if h, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health while the store opens: %v, %v; want NOT_SERVING", h, err)
	}
	_, err = accounts.GetAccount(ctx, &pb.GetAccountRequest{AccountId: "acme"})
	if _, ok := retryInfo(err); status.Code(err) != codes.Unavailable || !ok {
		t.Errorf("a call while the store opens: got %v, want UNAVAILABLE with a RetryInfo", err)
	}

	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-serving:
	case err := <-done:
		t.Fatalf("run ended once the file was free: %v", err)
	}
	if h, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health once the store is open: %v, %v; want SERVING", h, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
