package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
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

// pki is a test CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files in a temp dir.
type pki struct {
	caFile, certFile, keyFile string
	client                    tls.Certificate
	pool                      *x509.CertPool
}

func newPKI(t *testing.T, clientCN string) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dpmon test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	srvDER, srvKey := issue(2, "dpmon", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	cliDER, cliKey := issue(3, clientCN, x509.ExtKeyUsageClientAuth, nil)
	p := pki{
		caFile:   write("ca.pem", "CERTIFICATE", caDER),
		certFile: write("server.pem", "CERTIFICATE", srvDER),
		keyFile:  write("server.key", "EC PRIVATE KEY", keyDER(srvKey)),
		client:   tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey},
		pool:     x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	return p
}

func TestTokensAndClientCertificatesOverTLS(t *testing.T) {
	p := newPKI(t, "ops-robot")
	dir := t.TempDir()
	sum := sha256.Sum256([]byte("s3cret-platform-token"))
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("tokens:\n"+
		"  - {name: platform-a, sha256: "+hex.EncodeToString(sum[:])+", role: sender, accounts: [acme]}\n"+
		"  - {name: ops-robot, client_cn: ops-robot, role: admin}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startRun(t, []string{"--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--tokens", tokens,
		"--tls-cert", p.certFile, "--tls-key", p.keyFile, "--tls-client-ca", p.caFile}, func(string) string { return "" })
	connect := func(certs ...tls.Certificate) *grpc.ClientConn {
		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: p.pool, Certificates: certs})))
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
	audit := pb.NewAuditServiceClient(connect(p.client))
	if _, err := audit.ListAuditEvents(ctx, &pb.ListAuditEventsRequest{}); err != nil {
		t.Errorf("the admin's client certificate: %v", err)
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
}
