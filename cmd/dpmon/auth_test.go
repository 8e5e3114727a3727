package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/internal/testpki"
)

func TestAnOpenServerStaysOnLoopback(t *testing.T) {
	dir := t.TempDir()
	err := run(context.Background(), []string{"--listen", "0.0.0.0:0", "--data-dir", dir}, func(string) string { return "" }, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "refusing to listen on 0.0.0.0:0 without authentication") {
		t.Fatalf("got %v, want a refusal", err)
	}
	srv := startRun(t, []string{"--listen", "0.0.0.0:0", "--insecure", "--data-dir", dir}, func(string) string { return "" })
	if !strings.Contains(srv.Log(), "NO AUTHENTICATION") {
		t.Errorf("log does not warn loudly:\n%s", srv.Log())
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestTokensAndClientCertificatesOverTLS(t *testing.T) {
	p := testpki.New(t, "ops-robot")
	dir := t.TempDir()
	sum := sha256.Sum256([]byte("s3cret-platform-token"))
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("tokens:\n"+
		"  - {name: platform-a, sha256: "+hex.EncodeToString(sum[:])+", role: sender, accounts: [acme]}\n"+
		"  - {name: ops-robot, client_cn: ops-robot, role: admin}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startRun(t, []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--tokens", tokens,
		"--tls-cert", p.CertFile, "--tls-key", p.KeyFile, "--tls-client-ca", p.CAFile}, func(string) string { return "" })
	connect := func(certs ...tls.Certificate) *grpc.ClientConn {
		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: p.Pool, Certificates: certs})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	plain := pb.NewAccountServiceClient(connect())
	ctx := context.Background()
	if _, err := plain.GetAccount(ctx, &pb.GetAccountRequest{AccountId: "acme"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no token: got %v, want Unauthenticated", err)
	}
	withToken := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer s3cret-platform-token")
	if _, err := plain.CheckSend(withToken, &pb.CheckSendRequest{AccountId: "acme"}); err != nil {
		t.Errorf("the platform's token on its account: %v", err)
	}
	if _, err := plain.CheckSend(withToken, &pb.CheckSendRequest{AccountId: "other"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("the platform's token on another account: got %v, want PermissionDenied", err)
	}
	audit := pb.NewAuditServiceClient(connect(p.Client))
	if _, err := audit.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{}); err != nil {
		t.Errorf("the admin's client certificate: %v", err)
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestClientCertificateRules(t *testing.T) {
	p := testpki.New(t, "stranger") // signed by the trusted CA, but not in the token file
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("tokens:\n  - {name: ops-robot, client_cn: ops-robot, role: admin}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noop := func(string) string { return "" }
	err := run(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--tokens", tokens},
		noop, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "no tls_client_ca verifies them") {
		t.Fatalf("client_cn without a client CA: got %v, want a refusal", err)
	}
	srv := startRun(t, []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--tokens", tokens,
		"--tls-cert", p.CertFile, "--tls-key", p.KeyFile, "--tls-client-ca", p.CAFile}, noop)
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{p.Client}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = pb.NewAuditServiceClient(conn).ListAuditEvents(context.Background(), &pb.ListAuditEventsRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("a certificate with an unknown name: got %v, want Unauthenticated", err)
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
}
