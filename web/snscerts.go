package web

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/dpmon/dpmon/intake"
)

// snsCerts fetches SNS signing certificates and keeps the verified ones
// until they expire, so that a notification costs no fetch.
type snsCerts struct {
	client     *http.Client
	roots      *x509.CertPool
	issuerHost *regexp.Regexp
	fetching   singleflight.Group

	mu    sync.Mutex
	byURL map[string]*x509.Certificate
}

func newSNSCerts(client *http.Client, roots *x509.CertPool, issuerHost *regexp.Regexp) *snsCerts {
	return &snsCerts{client: client, roots: roots, issuerHost: issuerHost, byURL: make(map[string]*x509.Certificate)}
}

// get returns the verified certificate at rawURL, a URL already checked
// with intake.CheckSigningCertURL. A certificate that does not verify is
// an intake.ErrSignature; one that cannot be fetched is another error.
func (c *snsCerts) get(ctx context.Context, rawURL string, now time.Time) (*x509.Certificate, error) {
	c.mu.Lock()
	cert, ok := c.byURL[rawURL]
	c.mu.Unlock()
	if ok && now.Before(cert.NotAfter) {
		return cert, nil
	}
	v, err, _ := c.fetching.Do(rawURL, func() (any, error) {
		// Shared by the posts that wait for it: not cut short when the
		// first of them goes away.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultFetchTimeout)
		defer cancel()
		return c.fetch(ctx, rawURL, now)
	})
	if err != nil {
		return nil, err
	}
	cert = v.(*x509.Certificate)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byURL) >= maxCachedCertificates {
		clear(c.byURL) // SNS signs with one or two certificates a region
	}
	c.byURL[rawURL] = cert
	return cert, nil
}

// fetch downloads and verifies a signing certificate. SNS serves the
// certificate alone; when its issuer is not in the file, it is fetched
// from the certificate's Authority Information Access URL, as browsers
// do, but only from a host issuerHost allows.
func (c *snsCerts) fetch(ctx context.Context, rawURL string, now time.Time) (*x509.Certificate, error) {
	data, err := c.download(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	chain, err := parseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("sns: %w: signing certificate: %v", intake.ErrSignature, err)
	}
	leaf, intermediates := chain[0], x509.NewCertPool()
	for _, ic := range chain[1:] {
		intermediates.AddCert(ic)
	}
	err = intake.VerifySNSCertificate(leaf, intermediates, c.roots, now)
	if err == nil || c.issuerHost == nil || len(leaf.IssuingCertificateURL) == 0 || !errors.As(err, new(x509.UnknownAuthorityError)) {
		return leaf, err
	}
	issuerURL := leaf.IssuingCertificateURL[0]
	if u, perr := url.Parse(issuerURL); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Port() != "" || !c.issuerHost.MatchString(u.Hostname()) {
		return nil, err // the issuer is elsewhere: not fetched
	}
	data, ferr := c.download(ctx, issuerURL)
	if ferr != nil {
		return nil, ferr
	}
	issuers, perr := parseCertificates(data)
	if perr != nil {
		return nil, fmt.Errorf("sns: %w: issuer certificate: %v", intake.ErrSignature, perr)
	}
	for _, ic := range issuers {
		intermediates.AddCert(ic)
	}
	return leaf, intake.VerifySNSCertificate(leaf, intermediates, c.roots, now)
}

// download fetches a certificate file, at most maxCertificateBytes.
func (c *snsCerts) download(ctx context.Context, rawURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("sns: fetch certificate: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sns: fetch certificate: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sns: fetch certificate %s: %s", rawURL, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCertificateBytes+1))
	if err != nil {
		return nil, fmt.Errorf("sns: fetch certificate: %w", err)
	}
	if len(data) > maxCertificateBytes {
		return nil, fmt.Errorf("sns: fetch certificate %s: longer than %d bytes", rawURL, maxCertificateBytes)
	}
	return data, nil
}

// parseCertificates reads PEM certificates, or one DER certificate (as
// issuers are served).
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, cert)
	}
	if len(certs) > 0 {
		return certs, nil
	}
	cert, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, errors.New("neither PEM nor DER")
	}
	return []*x509.Certificate{cert}, nil
}
