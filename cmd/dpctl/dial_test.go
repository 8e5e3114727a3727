package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/dpmon/dpmon/internal/testpki"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
)

// dpctl connects with TLS, authenticates with a client certificate or a
// token, and fails plainly against a TLS server without --tls-ca.
func TestDialWithTLS(t *testing.T) {
	p := testpki.New(t, "ops-robot")
	sum := sha256.Sum256([]byte("platform-token"))
	auth, err := server.NewAuthenticator([]server.Credential{
		{Name: "platform-a", SHA256: hex.EncodeToString(sum[:]), Role: server.RoleSender, Accounts: []string{"acme"}},
		{Name: "ops-robot", ClientCN: "ops-robot", Role: server.RoleAdmin},
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(t.TempDir(), store.Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(),
		Suppression: monitor.DefaultSuppressionPolicy(), Clock: monitortest.New(t0).Now})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: p.Pool, ClientAuth: tls.VerifyClientCertIfGiven})
	srv := server.New(db, server.Options{Auth: auth})
	gs := srv.GRPCServer(grpc.Creds(creds))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(func() {
		gs.Stop()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	addr := lis.Addr().String()

	if _, _, err := runDpctl(t, "--addr", addr, "--tls-ca", p.CAFile, "--tls-cert", p.ClientCertFile, "--tls-key", p.ClientKeyFile, "audit"); err != nil {
		t.Errorf("the admin's client certificate: %v", err)
	}
	stdout, _, err := runDpctl(t, "--addr", addr, "--tls-ca", p.CAFile, "--token", "platform-token", "check-send", "acme")
	if err != nil || !strings.Contains(stdout, "allowed  yes") {
		t.Errorf("the platform's token over TLS: %v\n%s", err, stdout)
	}
	if _, _, err := runDpctl(t, "--addr", addr, "--tls-ca", p.CAFile, "--token", "platform-token", "audit"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a sender reading the audit: got %v, want PermissionDenied", err)
	}
	if _, _, err := runDpctl(t, "--addr", addr, "--token", "platform-token", "check-send", "acme"); status.Code(err) != codes.Unavailable {
		t.Errorf("plaintext against TLS: got %v, want Unavailable", err)
	}
}

// A token is never sent in plaintext beyond loopback.
func TestATokenNeedsTLSBeyondLoopback(t *testing.T) {
	for addr, refused := range map[string]bool{"127.0.0.1:7411": false, "localhost:7411": false, "192.0.2.1:7411": true} {
		conn, err := dial(globals{addr: addr, token: "t"})
		if refused != (err != nil) {
			t.Errorf("%s: got %v, want refused %v", addr, err, refused)
		}
		if err == nil {
			conn.Close()
		} else if !strings.Contains(err.Error(), "transport level security") {
			t.Errorf("%s: got %v, want a refusal to send the token", addr, err)
		}
	}
	conn, err := dial(globals{addr: "192.0.2.1:7411", token: "t", tls: true})
	if err != nil {
		t.Errorf("with --tls: %v", err)
	} else {
		conn.Close()
	}
}
