// Package web serves dpmon's HTTP endpoints on the one --http-listen
// listener: the email providers' webhooks under /v1/hooks/ (each checked
// with the provider's own signature or credentials, read by package
// intake and committed through the server like any batch).
package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/server"
)

// Limits of the listener.
const (
	// DefaultMaxBodyBytes bounds a webhook post. SendGrid batches the
	// most: its posts stay well under a megabyte.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultMaxConcurrent bounds the posts handled at once; more wait a
	// moment, then get 503 so that the provider retries.
	DefaultMaxConcurrent = 64
	// concurrencyWait is how long a post waits for a free slot.
	concurrencyWait = time.Second
)

// Taker commits what a post holds, and keeps what it cannot commit as
// unmapped: *server.Server.
type Taker interface {
	Take(ctx context.Context, res intake.Result, opts server.TakeOptions) (server.Taken, error)
}

// Options configure the handler.
type Options struct {
	Take Taker
	// The providers whose endpoints are served; a nil one is not served
	// (404), as it has no secret to check posts with.
	SES      *SES
	SendGrid *SendGrid
	Postmark *Postmark
	Mailgun  *Mailgun
	// MaxBodyBytes bounds a post (DefaultMaxBodyBytes when 0); a longer
	// one gets 413.
	MaxBodyBytes int64
	// MaxConcurrent bounds the posts handled at once (DefaultMaxConcurrent
	// when 0).
	MaxConcurrent int
	// Count, when set, is told of each post's events by provider and
	// result (see the Result constants), for metrics.
	Count func(provider, result string, n int)
	Log   *slog.Logger
	// Clock is the handler's time; time.Now when nil.
	Clock func() time.Time
}

// ResultUnauthorized counts the posts whose signature or credentials do
// not hold, beside the results of server.TakenResults.
const ResultUnauthorized = "unauthorized"

// New returns the handler of dpmon's HTTP endpoints.
func New(opts Options) http.Handler {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	h := &hooks{
		take: opts.Take, count: opts.Count, log: opts.Log, clock: opts.Clock,
		maxBody: opts.MaxBodyBytes, slots: semaphore.NewWeighted(int64(opts.MaxConcurrent)),
	}
	mux := http.NewServeMux()
	for _, p := range []provider{opts.SES.provider(), opts.SendGrid.provider(), opts.Postmark.provider(), opts.Mailgun.provider()} {
		if p.read != nil {
			mux.Handle("POST /v1/hooks/"+p.name, h.serve(p))
		}
	}
	return mux
}

// Served names the providers whose endpoints opts serve, for the log.
func (opts Options) Served() []string {
	var names []string
	for _, p := range []provider{opts.SES.provider(), opts.SendGrid.provider(), opts.Postmark.provider(), opts.Mailgun.provider()} {
		if p.read != nil {
			names = append(names, p.name)
		}
	}
	return names
}

// NewServer returns an http.Server for h with timeouts fit for webhooks:
// a post is small, and a client that dawdles holds a connection.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
