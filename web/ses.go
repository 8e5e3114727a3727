package web

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/dpmon/dpmon/intake"
)

// SES configures /v1/hooks/ses: Amazon SES notifications delivered by an
// SNS topic's HTTPS subscription.
type SES struct {
	// Topics are the topic ARNs whose messages are taken and whose
	// subscriptions are confirmed; SNS signs every AWS account's messages
	// with the same certificates.
	Topics []string
	// CertHost matches the hosts signing certificates and subscription
	// confirmations come from (intake.CertHostPattern).
	CertHost *regexp.Regexp
	// IssuerHost matches the hosts a signing certificate's issuer may be
	// fetched from: SNS serves its certificates without their issuer.
	IssuerHost *regexp.Regexp
	// Roots verify signing certificates; the system's when nil.
	Roots   *x509.CertPool
	Mapping intake.Mapping
	// CreateAccounts lets the events create the accounts the mapping
	// names; without it only the default account is created, and the
	// events of other accounts that do not exist are kept as unmapped.
	CreateAccounts bool
	// Client fetches certificates and confirms subscriptions; one with a
	// 10 s timeout when nil.
	Client *http.Client
	Log    *slog.Logger
}

// Default host patterns of SNS and of Amazon's certificate authorities.
const (
	DefaultSNSCertHost    = `sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?`
	DefaultSNSIssuerHost  = `[a-z0-9.-]+\.amazontrust\.com`
	maxCertificateBytes   = 64 << 10
	defaultFetchTimeout   = 10 * time.Second
	maxCachedCertificates = 64
)

func (c *SES) provider() provider {
	if c == nil || len(c.Topics) == 0 || c.CertHost == nil {
		return provider{name: "ses"}
	}
	client := &http.Client{Timeout: defaultFetchTimeout}
	if c.Client != nil {
		client = new(http.Client)
		*client = *c.Client
	}
	// A redirect would lead the fetch past the host checks.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	log := c.Log
	if log == nil {
		log = slog.Default()
	}
	certs := newSNSCerts(client, c.Roots, c.IssuerHost)
	return provider{
		name: "ses", mapping: c.Mapping, mayCreate: mayCreate(c.Mapping, c.CreateAccounts),
		read: func(ctx context.Context, _ *http.Request, body []byte, now time.Time) (intake.Result, func(), error) {
			msg, err := intake.ReadSNS(body)
			if err != nil {
				return intake.Result{}, nil, err
			}
			if err := intake.CheckSigningCertURL(msg.SigningCertURL, c.CertHost); err != nil {
				return intake.Result{}, nil, err
			}
			cert, err := certs.get(ctx, msg.SigningCertURL, now)
			if err != nil {
				return intake.Result{}, nil, err
			}
			if err := intake.VerifySNS(msg, cert, c.Topics); err != nil {
				return intake.Result{}, nil, err
			}
			switch msg.Type {
			case "SubscriptionConfirmation":
				if err := confirmSubscription(ctx, client, msg.SubscribeURL, c.CertHost); err != nil {
					return intake.Result{}, nil, err
				}
				log.Info("SNS subscription confirmed", "topic", msg.TopicArn)
				return intake.Result{}, nil, nil
			case "UnsubscribeConfirmation":
				log.Warn("SNS unsubscribed this endpoint; remove the topic from hooks.ses.topic_arns or subscribe again", "topic", msg.TopicArn)
				return intake.Result{}, nil, nil
			}
			res, err := intake.SES([]byte(msg.Message), c.Mapping, now)
			return res, nil, err
		},
	}
}

// confirmSubscription visits a subscription's SubscribeURL, which must be
// HTTPS on a host SNS certificates come from: the URL is the sender's
// word, and dpmon must not be made to fetch any other.
func confirmSubscription(ctx context.Context, client *http.Client, raw string, host *regexp.Regexp) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Port() != "" || !host.MatchString(u.Hostname()) {
		return fmt.Errorf("sns: %w: SubscribeURL is not an https URL of an SNS host", intake.ErrPayload)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("sns: confirm subscription: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("sns: confirm subscription: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sns: confirm subscription: %s", resp.Status)
	}
	return nil
}
