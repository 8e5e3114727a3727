package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/internal/logtext"
	"github.com/dpmon/dpmon/server"
)

// provider is one webhook endpoint: how its posts are checked and read.
type provider struct {
	name    string
	mapping intake.Mapping
	// mayCreate says whether an event may create the account it names.
	mayCreate func(account string) bool
	// authorize checks credentials the headers carry alone, before the
	// body is read; nil when the signature covers the body.
	authorize func(r *http.Request, now time.Time) error
	// read checks the post's signature and reads its events. An error
	// wrapping intake.ErrSignature is answered 401, intake.ErrPayload
	// 400; any other (a certificate that cannot be fetched) 503, so that
	// the provider retries. undo, when not nil, is called if the post is
	// not taken after all: it forgets a single-use token, which the
	// provider's retry carries again.
	read func(ctx context.Context, r *http.Request, body []byte, now time.Time) (res intake.Result, undo func(), err error)
}

// hooks handles the posts of every provider.
type hooks struct {
	take    Taker
	count   func(provider, result string, n int)
	log     *slog.Logger
	clock   func() time.Time
	maxBody int64
	slots   *semaphore.Weighted
}

// reply is the body of a 200: what became of the post's events.
type reply struct {
	Accepted   int             `json:"accepted"`
	Duplicates int             `json:"duplicates"`
	Unmapped   int             `json:"unmapped"`
	Ignored    int             `json:"ignored"`
	Malformed  int             `json:"malformed"`
	Rejected   []rejectedEvent `json:"rejected,omitempty"`
}

type rejectedEvent struct {
	EventID string `json:"event_id"`
	Field   string `json:"field"`
	Reason  string `json:"reason"`
}

// serve answers a provider's posts: 2xx only once every event it carries
// is durable (committed, or kept as unmapped), so that a crash never
// loses one the provider was told was taken.
func (h *hooks) serve(p provider) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		wait, cancel := context.WithTimeout(ctx, concurrencyWait)
		err := h.slots.Acquire(wait, 1)
		cancel()
		if err != nil {
			retryLater(w, time.Second, "too many posts at once")
			return
		}
		defer h.slots.Release(1)
		if p.authorize != nil {
			if err := p.authorize(r, h.clock()); err != nil {
				h.unauthorized(w, r, p, err)
				return
			}
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				h.add(p.name, server.ResultRejected, 1)
				httpError(w, http.StatusRequestEntityTooLarge, "the post is longer than "+strconv.FormatInt(h.maxBody, 10)+" bytes")
				return
			}
			// Cut off or too slow: the provider may retry.
			httpError(w, http.StatusRequestTimeout, "the body could not be read")
			return
		}
		now := h.clock()
		res, undo, err := p.read(ctx, r, body, now)
		taken := false
		if undo != nil {
			defer func() {
				if !taken {
					undo()
				}
			}()
		}
		switch {
		case errors.Is(err, intake.ErrSignature):
			h.unauthorized(w, r, p, err)
			return
		case errors.Is(err, intake.ErrPayload):
			h.add(p.name, server.ResultRejected, 1)
			httpError(w, http.StatusBadRequest, logtext.Clean(err.Error()))
			return
		case err != nil:
			h.log.Warn("webhook post not taken; the provider will retry", "provider", p.name, "err", logtext.Clean(err.Error()))
			retryLater(w, 10*time.Second, "dpmon cannot check this post now")
			return
		}
		got, err := h.take.Take(ctx, res, server.TakeOptions{Source: "hook " + p.name, Kept: p.name,
			Reason: unmappedReason(p.name, p.mapping), MayCreate: p.mayCreate, Received: now})
		if err != nil {
			h.notTaken(w, p, err)
			return
		}
		out := reply{Accepted: got.Accepted, Duplicates: got.Duplicates, Unmapped: got.Unmapped, Ignored: res.Ignored, Malformed: res.Malformed}
		for _, rej := range got.Rejected {
			out.Rejected = append(out.Rejected, rejectedEvent{EventID: rej.EventID, Field: rej.Field, Reason: rej.Reason})
		}
		if len(out.Rejected) > 0 || res.Malformed > 0 {
			// Taken all the same: a retry would be refused again.
			h.log.Warn("webhook events refused", "provider", p.name, "rejected", len(out.Rejected), "malformed", res.Malformed)
		}
		taken = true
		got.Count(res, func(result string, n int) { h.add(p.name, result, n) })
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}

// mayCreate says which accounts a provider's events may create: the
// default the operator configured, or, when any, every account the
// payload names (a tag the platform's own senders may set).
func mayCreate(m intake.Mapping, any bool) func(string) bool {
	return func(account string) bool { return any || account == m.Default }
}

// unmappedReason says why a provider's event got no account.
func unmappedReason(name string, m intake.Mapping) string {
	if m.From == "" {
		return "hooks." + name + ".account_from and hooks." + name + ".default_account are not set"
	}
	return fmt.Sprintf("the event names no account in %q, and hooks.%s.default_account is not set", m.From, name)
}

// unauthorized answers a post whose credentials or signature do not hold:
// 401, counted, and logged with the reason but never the secret.
func (h *hooks) unauthorized(w http.ResponseWriter, r *http.Request, p provider, err error) {
	h.add(p.name, ResultUnauthorized, 1)
	h.log.Warn("webhook post refused", "provider", p.name, "remote", r.RemoteAddr, "reason", logtext.Clean(err.Error()))
	httpError(w, http.StatusUnauthorized, "the signature or credentials do not hold")
}

// notTaken answers a post whose events could not be committed: 503 with
// Retry-After when waiting helps, so that the provider retries; 500
// otherwise, logged.
func (h *hooks) notTaken(w http.ResponseWriter, p provider, err error) {
	var later *server.RetryLater
	if errors.As(err, &later) {
		h.log.Warn("webhook events not committed; the provider will retry", "provider", p.name, "reason", later.Reason)
		retryLater(w, later.After, later.Reason)
		return
	}
	h.log.Error("webhook events not committed", "provider", p.name, "err", err)
	httpError(w, http.StatusInternalServerError, "internal error")
}

func (h *hooks) add(provider, result string, n int) {
	if h.count != nil && n > 0 {
		h.count(provider, result, n)
	}
}

// retryLater answers 503 with a Retry-After of whole seconds.
func retryLater(w http.ResponseWriter, after time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((after+time.Second-1)/time.Second))))
	httpError(w, http.StatusServiceUnavailable, msg)
}

// httpError answers status with msg as plain text.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}
