// Package notify delivers the notifications dpmon queues in its outbox:
// to webhooks, Slack-compatible incoming webhooks and email. Delivery is
// at least once: every attempt carries the notification's id, which
// receivers deduplicate on.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dpmon/dpmon/monitor"
)

// Receiver delivers notifications somewhere. Like an Alertmanager notifier
// it says whether a failure is worth retrying: a timeout or a 5xx is, a
// request the receiver refuses as malformed is not.
type Receiver interface {
	Deliver(ctx context.Context, n monitor.Notification) (retry bool, err error)
}

// Outbox is where notifications wait; the store is one.
type Outbox interface {
	DueNotifications(ctx context.Context, now time.Time, limit int) ([]monitor.Notification, error)
	UpdateNotification(ctx context.Context, id string, change func(n *monitor.Notification) error) (monitor.Notification, error)
	OutboxChanged() <-chan struct{}
}

// Filter is what a receiver wants: some kinds (all when empty), at least
// some severity.
type Filter struct {
	Kinds       []monitor.NotificationKind
	MinSeverity monitor.Severity
}

// Wants reports whether the filter lets kind k through.
func (f Filter) Wants(k monitor.NotificationKind) bool {
	if k.Severity() < f.MinSeverity {
		return false
	}
	if len(f.Kinds) == 0 {
		return true
	}
	for _, want := range f.Kinds {
		if want == k {
			return true
		}
	}
	return false
}

// Route is one receiver and its filter. Admins marks the receiver that
// emails the account's own admin contacts.
type Route struct {
	Name     string
	Receiver Receiver
	Filter   Filter
	Admins   bool
}

// Notifier routes new notifications to receivers and delivers the due ones.
type Notifier struct {
	routes    []Route
	receivers map[string]Receiver
	retry     monitor.RetryPolicy
	timeout   time.Duration
	clock     func() time.Time
	jitter    func() float64
	log       *slog.Logger
	// Attempted, when set, is told of every attempt, for metrics.
	Attempted func(receiver string, state monitor.NotificationState)
}

// New returns a notifier for routes; DeliverDue and Run are given the
// outbox to deliver from.
func New(routes []Route, retry monitor.RetryPolicy, clock func() time.Time, log *slog.Logger) (*Notifier, error) {
	n := &Notifier{routes: routes, receivers: map[string]Receiver{}, retry: retry, timeout: 15 * time.Second,
		clock: clock, jitter: rand.Float64, log: log}
	for _, r := range routes {
		if _, dup := n.receivers[r.Name]; dup || r.Name == "" {
			return nil, fmt.Errorf("notify: receiver names must be set and unique: %q", r.Name)
		}
		n.receivers[r.Name] = r.Receiver
	}
	return n, nil
}

// Route makes, from a change, one notification per receiver that wants
// it, due at once: the store's Route hook. A change of an account without
// admin emails is not mailed to its admins.
func (n *Notifier) Route(base monitor.Notification) []monitor.Notification {
	var out []monitor.Notification
	for _, r := range n.routes {
		if !r.Filter.Wants(base.Kind) || r.Admins && len(base.Recipients) == 0 {
			continue
		}
		c := base
		c.Receiver, c.State = r.Name, monitor.NotificationPending
		c.NextAttempt, c.Deadline = base.CreatedAt, base.CreatedAt.Add(n.retry.GiveUpAfter)
		if !r.Admins {
			// Only the admins' route mails the admins.
			c.Recipients = nil
		}
		out = append(out, c)
	}
	return out
}

// DeliverDue tries every notification due at now once and records the
// outcome; it returns how many were delivered. Each receiver works through
// its own notifications, beside the others: one that hangs delays only
// its own.
func (n *Notifier) DeliverDue(ctx context.Context, outbox Outbox, now time.Time) (int, error) {
	due, err := outbox.DueNotifications(ctx, now, 100)
	if err != nil {
		return 0, err
	}
	queues := map[string][]monitor.Notification{}
	for _, note := range due {
		queues[note.Receiver] = append(queues[note.Receiver], note)
	}
	start := time.Now()
	var delivered atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for _, queue := range queues {
		g.Go(func() error {
			for _, note := range queue {
				ok, err := n.attempt(ctx, outbox, note, now.Add(time.Since(start)))
				if err != nil {
					return err
				}
				if ok {
					delivered.Add(1)
				}
			}
			return nil
		})
	}
	err = g.Wait()
	return int(delivered.Load()), err
}

// attempt delivers one notification and records the attempt at the time
// it ends (a slow receiver must not make its retry due at once). It
// reports whether the notification was delivered.
func (n *Notifier) attempt(ctx context.Context, outbox Outbox, note monitor.Notification, began time.Time) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err() // shutting down: leave it due
	}
	t := time.Now()
	retry, derr := n.deliver(ctx, note)
	if ctx.Err() != nil {
		// Cut short by the shutdown, not refused by the receiver: the
		// attempt does not count.
		return false, ctx.Err()
	}
	at := began.Add(time.Since(t))
	updated, err := outbox.UpdateNotification(ctx, note.ID, func(x *monitor.Notification) error {
		x.Attempted(at, derr, retry, n.retry, n.jitter())
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("record delivery of %s: %w", note.ID, err)
	}
	if n.Attempted != nil {
		n.Attempted(note.Receiver, updated.State)
	}
	// The log says what was recorded, not derr: the record's error is
	// redacted of any secret a receiver's error may quote.
	switch updated.State {
	case monitor.NotificationFailed:
		n.log.Warn("notification given up", "id", note.ID, "receiver", note.Receiver, "attempts", updated.Attempts, "err", updated.LastError)
	case monitor.NotificationPending:
		n.log.Info("notification will be retried", "id", note.ID, "receiver", note.Receiver, "at", updated.NextAttempt, "err", updated.LastError)
	}
	return updated.State == monitor.NotificationDelivered, nil
}

func (n *Notifier) deliver(ctx context.Context, note monitor.Notification) (bool, error) {
	r, ok := n.receivers[note.Receiver]
	if !ok {
		return false, fmt.Errorf("receiver %q is no longer configured", note.Receiver)
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	return r.Deliver(ctx, note)
}

// Run delivers from outbox until ctx is done: when notifications are
// queued, and every poll to catch retries as they fall due.
func (n *Notifier) Run(ctx context.Context, outbox Outbox, poll time.Duration) {
	for {
		changed := outbox.OutboxChanged()
		if _, err := n.DeliverDue(ctx, outbox, n.clock()); err != nil && !errors.Is(err, ctx.Err()) {
			n.log.Error("deliver notifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(poll):
		}
	}
}
