package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dpmon/dpmon/console"
	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/internal/loopback"
	"github.com/dpmon/dpmon/metrics"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
	"github.com/dpmon/dpmon/web"
)

// hooksConf configures the providers' webhooks on --http-listen. A
// provider without its secret is not served.
type hooksConf struct {
	MaxBodyBytes  byteSize     `yaml:"max_body_bytes"`
	MaxConcurrent int          `yaml:"max_concurrent"`
	SES           sesConf      `yaml:"ses"`
	SendGrid      sendGridConf `yaml:"sendgrid"`
	Postmark      postmarkConf `yaml:"postmark"`
	Mailgun       mailgunConf  `yaml:"mailgun"`
}

// mappingConf says which account a provider's events belong to: the
// value of the payload's AccountFrom field, else DefaultAccount. Only
// DefaultAccount is created by events, unless CreateAccounts.
type mappingConf struct {
	AccountFrom    string `yaml:"account_from"`
	DefaultAccount string `yaml:"default_account"`
	CreateAccounts bool   `yaml:"create_accounts"`
}

type sesConf struct {
	TopicARNs         []string `yaml:"topic_arns"`
	CertHostPattern   string   `yaml:"cert_host_pattern"`
	IssuerHostPattern string   `yaml:"issuer_host_pattern"`
	mappingConf       `yaml:",inline"`
}

type sendGridConf struct {
	PublicKey   string   `yaml:"public_key"`
	MaxAge      duration `yaml:"max_age"`
	mappingConf `yaml:",inline"`
}

type postmarkConf struct {
	Username    string `yaml:"username"`
	Password    string `yaml:"password"`
	mappingConf `yaml:",inline"`
}

type mailgunConf struct {
	SigningKey  string   `yaml:"signing_key"`
	MaxAge      duration `yaml:"max_age"`
	mappingConf `yaml:",inline"`
}

func defaultHooksConf() hooksConf {
	return hooksConf{
		MaxBodyBytes: web.DefaultMaxBodyBytes, MaxConcurrent: web.DefaultMaxConcurrent,
		SES:      sesConf{CertHostPattern: web.DefaultSNSCertHost, IssuerHostPattern: web.DefaultSNSIssuerHost},
		SendGrid: sendGridConf{MaxAge: duration(15 * time.Minute)},
		Mailgun:  mailgunConf{MaxAge: duration(15 * time.Minute)},
	}
}

// fromEnv overlays the settings given in the environment, so that
// secrets need not sit in the file: DPMON_HOOKS_<PROVIDER>_<KEY>, such as
// DPMON_HOOKS_MAILGUN_SIGNING_KEY; topic ARNs are separated by commas.
func (c *hooksConf) fromEnv(getenv func(string) string) {
	strs := map[string]*string{
		"SES_CERT_HOST_PATTERN":    &c.SES.CertHostPattern,
		"SES_ISSUER_HOST_PATTERN":  &c.SES.IssuerHostPattern,
		"SES_ACCOUNT_FROM":         &c.SES.AccountFrom,
		"SES_DEFAULT_ACCOUNT":      &c.SES.DefaultAccount,
		"SENDGRID_PUBLIC_KEY":      &c.SendGrid.PublicKey,
		"SENDGRID_ACCOUNT_FROM":    &c.SendGrid.AccountFrom,
		"SENDGRID_DEFAULT_ACCOUNT": &c.SendGrid.DefaultAccount,
		"POSTMARK_USERNAME":        &c.Postmark.Username,
		"POSTMARK_PASSWORD":        &c.Postmark.Password,
		"POSTMARK_ACCOUNT_FROM":    &c.Postmark.AccountFrom,
		"POSTMARK_DEFAULT_ACCOUNT": &c.Postmark.DefaultAccount,
		"MAILGUN_SIGNING_KEY":      &c.Mailgun.SigningKey,
		"MAILGUN_ACCOUNT_FROM":     &c.Mailgun.AccountFrom,
		"MAILGUN_DEFAULT_ACCOUNT":  &c.Mailgun.DefaultAccount,
	}
	for name, p := range strs {
		if v := getenv("DPMON_HOOKS_" + name); v != "" {
			*p = v
		}
	}
	if v := getenv("DPMON_HOOKS_SES_TOPIC_ARNS"); v != "" {
		c.SES.TopicARNs = nil
		for arn := range strings.SplitSeq(v, ",") {
			if arn = strings.TrimSpace(arn); arn != "" {
				c.SES.TopicARNs = append(c.SES.TopicARNs, arn)
			}
		}
	}
}

// accountFields are the payload fields each provider's account_from may
// name: a name, or a prefix ending in "." followed by a key.
var accountFields = map[string][]string{
	"ses":      {"configuration_set", "tag.", "header."},
	"sendgrid": {"category", "custom_args."},
	"postmark": {"server", "message_stream", "tag", "metadata."},
	"mailgun":  {"tag", "user-variables."},
}

func (m mappingConf) mapping(provider string) (intake.Mapping, error) {
	if m.DefaultAccount != "" {
		if reason := monitor.CheckID(m.DefaultAccount); reason != "" {
			return intake.Mapping{}, fmt.Errorf("config: hooks.%s.default_account %s", provider, reason)
		}
	}
	if f := m.AccountFrom; f != "" {
		known := false
		for _, name := range accountFields[provider] {
			if f == name || (strings.HasSuffix(name, ".") && strings.HasPrefix(f, name) && len(f) > len(name)) {
				known = true
			}
		}
		if !known {
			return intake.Mapping{}, fmt.Errorf("config: hooks.%s.account_from %q is none of %s (a name, or a prefix followed by a key)",
				provider, f, strings.Join(accountFields[provider], ", "))
		}
	}
	return intake.Mapping{From: m.AccountFrom, Default: m.DefaultAccount}, nil
}

// options checks the configuration and builds the handler's options,
// without the server, store, logger and counter that run wires in.
func (c hooksConf) options(log *slog.Logger) (web.Options, error) {
	opts := web.Options{MaxBodyBytes: int64(c.MaxBodyBytes), MaxConcurrent: c.MaxConcurrent}
	if c.MaxBodyBytes < 0 || c.MaxConcurrent < 0 {
		return opts, errors.New("config: hooks.max_body_bytes and hooks.max_concurrent must not be negative")
	}
	if len(c.SES.TopicARNs) > 0 {
		m, err := c.SES.mapping("ses")
		if err != nil {
			return opts, err
		}
		certHost, err := intake.CertHostPattern(c.SES.CertHostPattern)
		if err != nil {
			return opts, fmt.Errorf("config: hooks.ses.cert_host_pattern: %w", err)
		}
		issuerHost, err := intake.CertHostPattern(c.SES.IssuerHostPattern)
		if err != nil {
			return opts, fmt.Errorf("config: hooks.ses.issuer_host_pattern: %w", err)
		}
		opts.SES = &web.SES{Topics: c.SES.TopicARNs, CertHost: certHost, IssuerHost: issuerHost, Mapping: m, CreateAccounts: c.SES.CreateAccounts, Log: log}
	}
	if c.SendGrid.PublicKey != "" {
		m, err := c.SendGrid.mapping("sendgrid")
		if err != nil {
			return opts, err
		}
		key, err := intake.ParseSendGridKey(c.SendGrid.PublicKey)
		if err != nil {
			return opts, fmt.Errorf("config: hooks.sendgrid.public_key: %w", err)
		}
		opts.SendGrid = &web.SendGrid{Key: key, MaxAge: time.Duration(c.SendGrid.MaxAge), Mapping: m, CreateAccounts: c.SendGrid.CreateAccounts}
	}
	if c.Postmark.Password != "" || c.Postmark.Username != "" {
		if c.Postmark.Password == "" || c.Postmark.Username == "" {
			return opts, errors.New("config: hooks.postmark needs both username and password")
		}
		m, err := c.Postmark.mapping("postmark")
		if err != nil {
			return opts, err
		}
		opts.Postmark = &web.Postmark{Username: c.Postmark.Username, Password: c.Postmark.Password, Mapping: m, CreateAccounts: c.Postmark.CreateAccounts}
	}
	if c.Mailgun.SigningKey != "" {
		m, err := c.Mailgun.mapping("mailgun")
		if err != nil {
			return opts, err
		}
		opts.Mailgun = &web.Mailgun{SigningKey: []byte(c.Mailgun.SigningKey), MaxAge: time.Duration(c.Mailgun.MaxAge), Mapping: m, CreateAccounts: c.Mailgun.CreateAccounts}
	}
	for _, d := range []duration{c.SendGrid.MaxAge, c.Mailgun.MaxAge} {
		if d <= 0 {
			return opts, errors.New("config: hooks.sendgrid.max_age and hooks.mailgun.max_age must be positive")
		}
	}
	return opts, nil
}

// serveHTTP serves the webhooks and the console (when ui is not nil) on
// lis, over TLS when tlsCfg is set, and returns the function that stops
// it, letting the posts in flight finish their commit.
func serveHTTP(lis net.Listener, opts web.Options, ui *console.Console, srv *server.Server, m *metrics.Metrics, tlsCfg *tls.Config, log *slog.Logger) (stop func(time.Duration)) {
	opts.Take, opts.Log = srv, log
	served := opts.Served()
	if m != nil {
		opts.Count = m.HookEvents
		m.ServeHooks(served, append(slices.Clone(server.TakenResults), web.ResultUnauthorized))
	}
	if tlsCfg != nil {
		lis = tls.NewListener(lis, tlsCfg)
	} else if !loopback.Is(lis.Addr().String()) {
		log.Warn("webhooks are served without TLS: give tls_cert and tls_key (Postmark's password travels in plaintext)", "listen", lis.Addr().String())
	}
	if len(served) == 0 {
		log.Warn("no webhook is configured: give hooks.<provider>'s secret (see the README)")
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/hooks/", web.New(opts))
	if ui != nil {
		mux.Handle("/ui/", ui)
		mux.Handle("/{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
	}
	hs := web.NewServer(mux, log)
	if ui != nil {
		// The console's live streams end at shutdown: browsers never hang
		// up, and Shutdown waits for every connection to go idle.
		hs.RegisterOnShutdown(ui.Close)
	}
	go func() {
		if err := hs.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	log.Info("http serving", "addr", lis.Addr().String(), "hooks", strings.Join(served, ","), "console", ui != nil, "tls", tlsCfg != nil)
	return func(timeout time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := hs.Shutdown(ctx); err != nil {
			log.Warn("http server shutdown", "err", err)
			hs.Close()
		}
	}
}

// newConsole returns the web console for the HTTP listener lis, or nil
// where it may not be served: without tokens, only on loopback (or with
// --insecure), like the API.
func newConsole(lis net.Listener, c authConf, auth *server.Authenticator, srv *server.Server, db *store.DB, log *slog.Logger) (*console.Console, error) {
	if auth == nil && !c.Insecure && !loopback.Is(lis.Addr().String()) {
		log.Warn("the console is not served: without tokens it is served on loopback only (give --tokens, or --insecure)", "listen", lis.Addr().String())
		return nil, nil
	}
	return console.New(console.Options{API: srv, Auth: auth, Phases: db.PhaseCounts, EventsDurable: db.EventsDurable, Log: log, AnyHost: c.Insecure})
}
