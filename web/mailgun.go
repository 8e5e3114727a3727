package web

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/dpmon/dpmon/intake"
)

// Mailgun configures /v1/hooks/mailgun: posts signed with the HTTP
// webhook signing key, an HMAC over a timestamp and a token.
type Mailgun struct {
	SigningKey []byte
	// MaxAge is how far a post's timestamp may be from now; a token is
	// remembered that long, so that each is taken once.
	MaxAge  time.Duration
	Mapping intake.Mapping
	// CreateAccounts: see SES.
	CreateAccounts bool
	// MaxTokens bounds the tokens remembered (DefaultMaxTokens when 0);
	// beyond it, posts get 503 until the oldest age out.
	MaxTokens int
}

// DefaultMaxTokens bounds the Mailgun tokens remembered: a million posts
// within the replay window, some 80 MB.
const DefaultMaxTokens = 1_000_000

// mailgunSignature is the signature object of a Mailgun post.
type mailgunSignature struct {
	Signature struct {
		Timestamp string `json:"timestamp"`
		Token     string `json:"token"`
		Signature string `json:"signature"`
	} `json:"signature"`
}

func (c *Mailgun) provider() provider {
	if c == nil || len(c.SigningKey) == 0 {
		return provider{name: "mailgun"}
	}
	seen := newTokens(c.MaxTokens)
	return provider{
		name: "mailgun", mapping: c.Mapping, mayCreate: mayCreate(c.Mapping, c.CreateAccounts),
		read: func(_ context.Context, _ *http.Request, body []byte, now time.Time) (intake.Result, func(), error) {
			var sig mailgunSignature
			if err := json.Unmarshal(body, &sig); err != nil {
				return intake.Result{}, nil, fmt.Errorf("mailgun: %w: %v", intake.ErrPayload, err)
			}
			s := sig.Signature
			if err := intake.VerifyMailgun(c.SigningKey, s.Timestamp, s.Token, s.Signature, now, c.MaxAge); err != nil {
				return intake.Result{}, nil, err
			}
			forget, err := seen.take(s.Token, body, now, c.MaxAge)
			if err != nil {
				return intake.Result{}, nil, err
			}
			res, err := intake.Mailgun(body, c.Mapping, now)
			if err != nil {
				forget()
				return intake.Result{}, nil, err
			}
			return res, forget, nil
		},
	}
}

// tokens remembers the Mailgun tokens taken, each until its post could no
// longer pass the timestamp check, so that a captured signature cannot be
// used again within the window either. It lives in memory: after a
// restart a captured signature passes once more within the window, and
// with any body, since Mailgun signs the timestamp and token, not the
// body; only the window bounds that.
type tokens struct {
	mu   sync.Mutex
	seen map[[16]byte]tokenUse // by digest of the token
	max  int
	// swept is when the map was last cleared of the tokens that may go.
	swept time.Time
}

func newTokens(max int) *tokens {
	if max <= 0 {
		max = DefaultMaxTokens
	}
	return &tokens{seen: make(map[[16]byte]tokenUse), max: max}
}

// tokenUse is a token taken: until when it is remembered, and a digest of
// the post that used it.
type tokenUse struct {
	until int64 // Unix nanoseconds
	post  [16]byte
}

func digest(b []byte) [16]byte {
	sum := sha256.Sum256(b)
	return [16]byte(sum[:16])
}

// take records token, or refuses it as replayed. The same post again is
// the provider's retry after an answer it did not get: taken, its events
// are duplicates. forget gives the token back, for a post that was not
// taken after all (the provider retries with the same token).
func (t *tokens) take(token string, post []byte, now time.Time, window time.Duration) (forget func(), err error) {
	key, sum := digest([]byte(token)), digest(post)
	t.mu.Lock()
	defer t.mu.Unlock()
	if use, ok := t.seen[key]; ok && now.UnixNano() < use.until {
		if use.post == sum {
			return func() {}, nil
		}
		return nil, fmt.Errorf("mailgun: %w: token already used", intake.ErrSignature)
	}
	if len(t.seen) >= t.max && now.Sub(t.swept) >= time.Second {
		t.swept = now
		for k, use := range t.seen {
			if now.UnixNano() >= use.until {
				delete(t.seen, k)
			}
		}
	}
	if len(t.seen) >= t.max {
		return nil, fmt.Errorf("mailgun: %d tokens within the replay window are remembered already", t.max)
	}
	// The timestamp may be window ahead of now.
	t.seen[key] = tokenUse{until: now.Add(2 * window).UnixNano(), post: sum}
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.seen, key)
	}, nil
}
