// Package testpki makes a throw-away certificate authority for tests: a
// server certificate for 127.0.0.1 and a client certificate, as PEM files.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a test CA and what it signed.
type PKI struct {
	// CAFile, CertFile and KeyFile are PEM files: the CA's certificate and
	// the server's certificate (for 127.0.0.1) and key.
	CAFile, CertFile, KeyFile string
	// ClientCertFile and ClientKeyFile are the client's, and Client the same
	// loaded for crypto/tls.
	ClientCertFile, ClientKeyFile string
	Client                        tls.Certificate
	// Pool trusts the CA.
	Pool *x509.CertPool
}

// New makes a CA valid for an hour and signs a server certificate and a
// client certificate with common name clientCN, in a temp dir of t.
func New(t testing.TB, clientCN string) PKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dpmon test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
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
	p := PKI{
		CAFile:         write("ca.pem", "CERTIFICATE", caDER),
		CertFile:       write("server.pem", "CERTIFICATE", srvDER),
		KeyFile:        write("server.key", "EC PRIVATE KEY", keyDER(srvKey)),
		ClientCertFile: write("client.pem", "CERTIFICATE", cliDER),
		ClientKeyFile:  write("client.key", "EC PRIVATE KEY", keyDER(cliKey)),
		Client:         tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey},
		Pool:           x509.NewCertPool(),
	}
	p.Pool.AddCert(ca)
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
