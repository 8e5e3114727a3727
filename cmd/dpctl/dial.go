package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dpmon/dpmon/internal/eventwire"
	"github.com/dpmon/dpmon/internal/loopback"
)

// dialOptions returns how dpctl connects to dpmon: TLS when asked (--tls,
// a CA or a client certificate), and the bearer token on every call when
// given one. A token goes in plaintext only to a loopback address.
func dialOptions(g globals) ([]grpc.DialOption, error) {
	transport := insecure.NewCredentials()
	useTLS := g.tls || g.tlsCA != "" || g.tlsCert != ""
	if useTLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if g.tlsCA != "" {
			pem, err := os.ReadFile(g.tlsCA)
			if err != nil {
				return nil, fmt.Errorf("TLS CA: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("TLS CA %s: no certificate in it", g.tlsCA)
			}
		}
		if g.tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(g.tlsCert, g.tlsKey)
			if err != nil {
				return nil, fmt.Errorf("TLS client certificate: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		transport = credentials.NewTLS(cfg)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(transport),
		// A bench sends batches as fast as the server takes them; grpc's
		// own codec cleared a megabyte for each (see wirebuf), and
		// protobuf's reflection encoded them at a third of the bench's
		// CPU (see eventwire).
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(eventwire.NewCodec(0))),
	}
	if g.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: g.token, secure: useTLS || !loopback.Is(g.addr)}))
	}
	return opts, nil
}

// bearer sends the token as "authorization: Bearer ..." on every call.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false only for a server on loopback, so that
// a token never crosses a network in plaintext.
func (b bearer) RequireTransportSecurity() bool { return b.secure }

// dial returns a client connection to the server at g.addr. It connects
// lazily, on the first call; the caller must Close it.
func dial(g globals, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts, err := dialOptions(g)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(g.addr, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", g.addr, err)
	}
	return conn, nil
}

// dial connects as e's options say; unary calls are sent again when the
// server asks to retry later (see retryAfter), as long as --timeout allows.
func (e *env) dial() (*grpc.ClientConn, error) {
	return dial(e.globals, grpc.WithChainUnaryInterceptor(retryUnary(e.stderr)))
}
