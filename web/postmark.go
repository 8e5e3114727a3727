package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"time"

	"github.com/dpmon/dpmon/intake"
)

// Postmark configures /v1/hooks/postmark: Postmark posts with the basic
// auth credentials written into the webhook's URL.
type Postmark struct {
	Username, Password string
	Mapping            intake.Mapping
	// CreateAccounts: see SES.
	CreateAccounts bool
}

func (c *Postmark) provider() provider {
	if c == nil || c.Password == "" {
		return provider{name: "postmark"}
	}
	return provider{
		name: "postmark", mapping: c.Mapping, mayCreate: mayCreate(c.Mapping, c.CreateAccounts),
		authorize: func(r *http.Request, _ time.Time) error {
			user, pass, ok := r.BasicAuth()
			if !ok {
				return fmt.Errorf("postmark: %w: no basic auth credentials", intake.ErrSignature)
			}
			// Compared as digests, so that the time taken says nothing of
			// the secrets' lengths either.
			if !sameSecret(user, c.Username) || !sameSecret(pass, c.Password) {
				return fmt.Errorf("postmark: %w: wrong username or password", intake.ErrSignature)
			}
			return nil
		},
		read: func(_ context.Context, _ *http.Request, body []byte, now time.Time) (intake.Result, func(), error) {
			res, err := intake.Postmark(body, c.Mapping, now)
			return res, nil, err
		},
	}
}

func sameSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}
