package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/dpmon/dpmon/internal/loopback"
	"github.com/dpmon/dpmon/server"
)

// authConf says who may call: the token file, TLS and whether an open
// server may listen beyond loopback.
type authConf struct {
	TokensFile  string `yaml:"tokens_file"`
	TLSCert     string `yaml:"tls_cert"`
	TLSKey      string `yaml:"tls_key"`
	TLSClientCA string `yaml:"tls_client_ca"`
	Insecure    bool   `yaml:"insecure"`
}

// tokenFile is the --tokens YAML: tokens stored as SHA-256 digests only.
type tokenFile struct {
	Tokens []struct {
		Name     string   `yaml:"name"`
		SHA256   string   `yaml:"sha256"`
		ClientCN string   `yaml:"client_cn"`
		Role     string   `yaml:"role"`
		Accounts []string `yaml:"accounts"`
		// CreateAccounts lets a credential without accounts create
		// accounts by sending their first events.
		CreateAccounts bool `yaml:"create_accounts"`
	} `yaml:"tokens"`
}

// setup reads the token file and the TLS files, and checks that the server
// may listen on listen with them. tlsCfg is nil for plaintext; the metrics
// listener serves with it too.
func (c authConf) setup(listen string, log *slog.Logger) (auth *server.Authenticator, tlsCfg *tls.Config, err error) {
	auth, err = loadAuthenticator(c.TokensFile)
	if err != nil {
		return nil, nil, err
	}
	tlsCfg, err = c.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	if auth != nil && auth.UsesClientCertificates() && c.TLSClientCA == "" {
		return nil, nil, errors.New("auth: the token file names client certificates (client_cn) but no tls_client_ca verifies them")
	}
	if err := c.checkExposure("listen", listen, auth, log); err != nil {
		return nil, nil, err
	}
	return auth, tlsCfg, nil
}

// loadAuthenticator reads the token file; no file means no authentication.
func loadAuthenticator(path string) (*server.Authenticator, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	var f tokenFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("tokens %s: %w", path, err)
	}
	if len(f.Tokens) == 0 {
		return nil, fmt.Errorf("tokens %s: no tokens: a token file must name at least one caller", path)
	}
	creds := make([]server.Credential, len(f.Tokens))
	for i, t := range f.Tokens {
		creds[i] = server.Credential{Name: t.Name, SHA256: t.SHA256, ClientCN: t.ClientCN, Role: server.Role(t.Role), Accounts: t.Accounts, CreateAccounts: t.CreateAccounts}
	}
	a, err := server.NewAuthenticator(creds)
	if err != nil {
		return nil, fmt.Errorf("tokens %s: %w", path, err)
	}
	return a, nil
}

// tlsConfig returns the server's TLS configuration, or nil for plaintext.
func (c authConf) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" && c.TLSKey == "" {
		if c.TLSClientCA != "" {
			return nil, errors.New("auth: tls_client_ca needs tls_cert and tls_key")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("auth: TLS certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.TLSClientCA != "" {
		pem, err := os.ReadFile(c.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("auth: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("auth: client CA %s: no certificate in it", c.TLSClientCA)
		}
		// A client without a certificate may still present a token.
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// transport returns the gRPC server's TLS option, or none for plaintext.
func transport(tlsCfg *tls.Config) []grpc.ServerOption {
	if tlsCfg == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(tlsCfg))}
}

// checkExposure refuses to do what ("listen" with the API or "serve
// metrics") without authentication beyond loopback, unless told to, and
// says loudly that it does.
func (c authConf) checkExposure(what, listen string, auth *server.Authenticator, log *slog.Logger) error {
	if auth != nil {
		if !loopback.Is(listen) && c.TLSCert == "" {
			log.Warn("tokens travel in plaintext: give tls_cert and tls_key", "to", what, "listen", listen)
		}
		return nil
	}
	if !loopback.Is(listen) && !c.Insecure {
		return fmt.Errorf("refusing to %s on %s without authentication: give --tokens FILE, listen on loopback, or pass --insecure", what, listen)
	}
	log.Warn("NO AUTHENTICATION: every caller is treated as an admin; give --tokens FILE for production", "to", what, "listen", listen)
	return nil
}
