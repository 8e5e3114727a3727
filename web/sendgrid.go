package web

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"net/http"
	"time"

	"github.com/dpmon/dpmon/intake"
)

// SendGrid configures /v1/hooks/sendgrid: the Signed Event Webhook, whose
// posts carry an ECDSA signature over their timestamp and body.
type SendGrid struct {
	// Key is the verification key SendGrid's settings show.
	Key *ecdsa.PublicKey
	// MaxAge is how far a post's timestamp may be from now.
	MaxAge  time.Duration
	Mapping intake.Mapping
	// CreateAccounts: see SES.
	CreateAccounts bool
}

// Headers of a signed SendGrid post.
const (
	sendGridSignature = "X-Twilio-Email-Event-Webhook-Signature"
	sendGridTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
)

func (c *SendGrid) provider() provider {
	if c == nil || c.Key == nil {
		return provider{name: "sendgrid"}
	}
	return provider{
		name: "sendgrid", mapping: c.Mapping, mayCreate: mayCreate(c.Mapping, c.CreateAccounts),
		// The signature covers the body, but its headers and their
		// timestamp are checked first: a post without them is not read.
		authorize: func(r *http.Request, now time.Time) error {
			if r.Header.Get(sendGridSignature) == "" {
				return fmt.Errorf("sendgrid: %w: no %s header", intake.ErrSignature, sendGridSignature)
			}
			return intake.CheckTimestamp("sendgrid", r.Header.Get(sendGridTimestamp), now, c.MaxAge)
		},
		read: func(_ context.Context, r *http.Request, body []byte, now time.Time) (intake.Result, func(), error) {
			err := intake.VerifySendGrid(c.Key, r.Header.Get(sendGridTimestamp), body, r.Header.Get(sendGridSignature), now, c.MaxAge)
			if err != nil {
				return intake.Result{}, nil, err
			}
			res, err := intake.SendGrid(body, c.Mapping, now)
			return res, nil, err
		},
	}
}
