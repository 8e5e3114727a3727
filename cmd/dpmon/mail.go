package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/dpmon/dpmon/internal/loopback"
	"github.com/dpmon/dpmon/lmtp"
	"github.com/dpmon/dpmon/metrics"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
)

// mailConf configures the reports taken on --lmtp-listen.
type mailConf struct {
	// Header names the returned message's header that names its account.
	Header string `yaml:"header"`
	// Delayed makes a DSN's delayed recipient a soft bounce.
	Delayed bool `yaml:"delayed"`
	// DefaultAccount is the account of reports that name none.
	DefaultAccount string `yaml:"default_account"`
}

func (c mailConf) check() error {
	if c.DefaultAccount != "" {
		if reason := monitor.CheckID(c.DefaultAccount); reason != "" {
			return fmt.Errorf("config: mail.default_account %s", reason)
		}
	}
	if strings.ContainsAny(c.Header, ": \t\r\n") {
		return fmt.Errorf("config: mail.header %q is not a header name", c.Header)
	}
	return nil
}

// listenLMTP takes the LMTP address: host:port, or unix:PATH for a socket
// the MTA delivers to (Postfix's lmtp:unix:PATH). Anyone who reaches it
// can report complaints for any account, so beyond loopback it needs
// --insecure.
func listenLMTP(addr string, insecure bool, log *slog.Logger) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		lis, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("lmtp listen: %w", err)
		}
		return lis, nil
	}
	if !loopback.Is(addr) {
		if !insecure {
			return nil, fmt.Errorf("refusing to take reports by LMTP on %s: LMTP has no authentication; listen on loopback or unix:PATH, or pass --insecure", addr)
		}
		log.Warn("LMTP beyond loopback: whoever reaches it can report bounces and complaints for any account", "listen", addr)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lmtp listen: %w", err)
	}
	return lis, nil
}

// serveLMTP serves reports on lis and returns the function that stops it,
// letting the deliveries in flight finish their commit.
func serveLMTP(lis net.Listener, c mailConf, srv *server.Server, db *store.DB, m *metrics.Metrics, log *slog.Logger) (stop func(time.Duration)) {
	opts := lmtp.Options{Ingest: srv, Unmapped: db, Header: c.Header, Delayed: c.Delayed, DefaultAccount: c.DefaultAccount, Log: log}
	if m != nil {
		opts.Count = m.MailEvents
		m.ServeMail([]string{lmtp.ResultAccepted, lmtp.ResultDuplicate, lmtp.ResultUnmapped, lmtp.ResultIgnored, lmtp.ResultRejected, lmtp.ResultNotReport})
	}
	s := lmtp.NewServer(opts)
	go func() {
		if err := s.Serve(lis); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			log.Error("lmtp server", "err", err)
		}
	}()
	log.Info("lmtp serving", "addr", lis.Addr().String())
	return func(timeout time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			log.Warn("lmtp server shutdown", "err", err)
			s.Close()
		}
	}
}
