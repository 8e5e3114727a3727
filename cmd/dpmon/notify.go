package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/notify"
)

// notifyConf are the receivers of notifications and how delivery retries.
type notifyConf struct {
	SMTP smtpConf `yaml:"smtp"`
	// OperatorEmails receive the notifications Operators lets through, and
	// the digest.
	OperatorEmails []string   `yaml:"operator_emails"`
	Operators      filterConf `yaml:"operators"`
	// Admins filters what the account's own admin contacts are mailed.
	Admins   filterConf    `yaml:"admins"`
	Webhooks []webhookConf `yaml:"webhooks"`
	Slack    []slackConf   `yaml:"slack"`
	Retry    retryConf     `yaml:"retry"`
	// Poll is how often due retries are looked for.
	Poll duration `yaml:"poll"`
}

type filterConf struct {
	Kinds       []string `yaml:"kinds"`        // all when empty
	MinSeverity string   `yaml:"min_severity"` // info (all), warning or critical
}

type webhookConf struct {
	Name       string `yaml:"name"`
	URL        string `yaml:"url"`
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	filterConf `yaml:",inline"`
}

type slackConf struct {
	Name       string `yaml:"name"`
	URL        string `yaml:"url"`
	filterConf `yaml:",inline"`
}

// smtpConf is the mail server the emails go through.
type smtpConf struct {
	Addr         string `yaml:"addr"`
	From         string `yaml:"from"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	StartTLS     bool   `yaml:"starttls"`
}

// email returns the sender of the configuration, or ok false without one.
func (c smtpConf) email() (notify.Email, bool, error) {
	if c.Addr == "" {
		return notify.Email{}, false, nil
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return notify.Email{}, false, fmt.Errorf("config: notify.smtp.addr must be host:port: %w", err)
	}
	if c.From == "" {
		return notify.Email{}, false, errors.New("config: notify.smtp.from is required")
	}
	e := notify.Email{Addr: c.Addr, From: c.From, Username: c.Username, StartTLS: c.StartTLS}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return e, false, fmt.Errorf("config: notify.smtp.password_file: %w", err)
		}
		e.Password = strings.TrimSpace(string(b))
	}
	return e, true, nil
}

type retryConf struct {
	First       duration `yaml:"first"`
	Max         duration `yaml:"max"`
	GiveUpAfter duration `yaml:"give_up_after"`
}

func defaultNotifyConf() notifyConf {
	r := monitor.DefaultRetryPolicy()
	return notifyConf{Retry: retryConf{First: duration(r.First), Max: duration(r.Max), GiveUpAfter: duration(r.GiveUpAfter)},
		Poll: duration(5 * time.Second)}
}

func (c notifyConf) retry() (monitor.RetryPolicy, error) {
	r := monitor.RetryPolicy{First: time.Duration(c.Retry.First), Max: time.Duration(c.Retry.Max), GiveUpAfter: time.Duration(c.Retry.GiveUpAfter)}
	if r.First <= 0 || r.Max < r.First || r.GiveUpAfter <= 0 {
		return r, errors.New("config: notify.retry needs first > 0, max >= first and give_up_after > 0")
	}
	return r, nil
}

func (f filterConf) filter(where string) (notify.Filter, error) {
	var out notify.Filter
	for _, k := range f.Kinds {
		if !isKind(monitor.NotificationKind(k)) {
			return out, fmt.Errorf("config: %s: unknown kind %q", where, k)
		}
		out.Kinds = append(out.Kinds, monitor.NotificationKind(k))
	}
	switch strings.ToLower(f.MinSeverity) {
	case "", "info":
	case "warning":
		out.MinSeverity = monitor.SeverityWarning
	case "critical":
		out.MinSeverity = monitor.SeverityCritical
	default:
		return out, fmt.Errorf("config: %s: min_severity must be info, warning or critical", where)
	}
	return out, nil
}

func isKind(k monitor.NotificationKind) bool {
	for _, known := range monitor.Kinds {
		if k == known {
			return true
		}
	}
	return false
}

// routes builds the receivers; none means no notifications are queued.
func (c notifyConf) routes() ([]notify.Route, error) {
	client := notify.NoRedirects(&http.Client{Timeout: 10 * time.Second})
	var routes []notify.Route
	email, ok, err := c.SMTP.email()
	if err != nil {
		return nil, err
	}
	if ok {
		f, err := c.Admins.filter("notify.admins")
		if err != nil {
			return nil, err
		}
		routes = append(routes, notify.Route{Name: "account-admins", Receiver: email, Filter: f, Admins: true})
		if len(c.OperatorEmails) > 0 {
			ops := email
			ops.To = c.OperatorEmails
			f, err := c.Operators.filter("notify.operators")
			if err != nil {
				return nil, err
			}
			routes = append(routes, notify.Route{Name: "operator-emails", Receiver: ops, Filter: f})
		}
	} else if len(c.OperatorEmails) > 0 {
		return nil, errors.New("config: notify.operator_emails needs notify.smtp")
	}
	for i, w := range c.Webhooks {
		where := fmt.Sprintf("notify.webhooks[%d]", i)
		if err := checkURL(where, w.URL); err != nil {
			return nil, err
		}
		secret := []byte(w.Secret)
		if w.SecretFile != "" {
			b, err := os.ReadFile(w.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("config: %s: %w", where, err)
			}
			secret = []byte(strings.TrimSpace(string(b)))
		}
		if len(secret) == 0 {
			return nil, fmt.Errorf("config: %s: a secret (or secret_file) signs the body; give one", where)
		}
		f, err := w.filter(where)
		if err != nil {
			return nil, err
		}
		routes = append(routes, notify.Route{Name: orName(w.Name, "webhook", w.URL), Receiver: notify.Webhook{URL: w.URL, Secret: secret, Client: client}, Filter: f})
	}
	for i, s := range c.Slack {
		where := fmt.Sprintf("notify.slack[%d]", i)
		if err := checkURL(where, s.URL); err != nil {
			return nil, err
		}
		f, err := s.filter(where)
		if err != nil {
			return nil, err
		}
		routes = append(routes, notify.Route{Name: orName(s.Name, "slack", s.URL), Receiver: notify.Slack{URL: s.URL, Client: client}, Filter: f})
	}
	return routes, nil
}

// orName names a receiver without a name by its URL, not its place in the
// list: notifications already queued for it must not go to another
// receiver when the list is reordered. The name is a label in metrics and
// shown to viewers, so it is a hash of the URL, never a part: a Slack
// webhook's path is its secret.
func orName(name, kind, url string) string {
	if name != "" {
		return name
	}
	sum := sha256.Sum256([]byte(url))
	return kind + "-" + hex.EncodeToString(sum[:4])
}

// checkURL refuses anything but an http(s) URL with a host. The error does
// not quote the URL, nor the parser's error (which would): it goes to the
// log, and the URL may be a secret, or hold one.
func checkURL(where, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("config: %s: url must be an http(s) URL with a host", where)
	}
	return nil
}

// startNotifier delivers the outbox until the returned stop is called.
func startNotifier(n *notify.Notifier, outbox notify.Outbox, poll time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Run(ctx, outbox, poll)
	}()
	return func() {
		cancel()
		<-done
	}
}

// newNotifier returns the notifier of the configuration, or nil when no
// receiver is configured.
func newNotifier(c notifyConf, log *slog.Logger) (*notify.Notifier, monitor.RetryPolicy, error) {
	retry, err := c.retry()
	if err != nil {
		return nil, retry, err
	}
	routes, err := c.routes()
	if err != nil || len(routes) == 0 {
		return nil, retry, err
	}
	n, err := notify.New(routes, retry, time.Now, log)
	return n, retry, err
}
