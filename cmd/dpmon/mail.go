package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/dpmon/dpmon/internal/loopback"
	"github.com/dpmon/dpmon/lmtp"
	"github.com/dpmon/dpmon/metrics"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/server"
)

// mailConf configures the reports taken on --lmtp-listen.
type mailConf struct {
	// Header names the returned message's header that names its account.
	Header string `yaml:"header"`
	// Delayed makes a DSN's delayed recipient a soft bounce.
	Delayed bool `yaml:"delayed"`
	// DefaultAccount is the account of reports that name none.
	DefaultAccount string `yaml:"default_account"`
	// CreateAccounts lets reports create the accounts they name; else
	// only DefaultAccount is created (see lmtp.Options).
	CreateAccounts bool `yaml:"create_accounts"`
	// MaxSessions bounds the LMTP connections served at once.
	MaxSessions int `yaml:"max_sessions"`
}

func (c mailConf) check() error {
	if c.DefaultAccount != "" {
		if reason := monitor.CheckID(c.DefaultAccount); reason != "" {
			return fmt.Errorf("config: mail.default_account %s", reason)
		}
	}
	if c.MaxSessions < 0 {
		return errors.New("config: mail.max_sessions must not be negative (0: the default)")
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
		return listenUnix(path)
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

// listenUnix listens on a Unix socket at path. A socket left there by a
// dpmon that did not stop cleanly is removed, if nothing answers on it;
// the new one may be reached by its owner and group only (the MTA's user
// joins the group).
func listenUnix(path string) (net.Listener, error) {
	if info, err := os.Lstat(path); err == nil && info.Mode().Type() == fs.ModeSocket {
		c, err := net.Dial("unix", path)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("lmtp listen: %s is in use by another process", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("lmtp listen: %s: %w", path, err) // not ours to remove
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("lmtp listen: remove stale socket: %w", err)
		}
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("lmtp listen: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		lis.Close()
		return nil, fmt.Errorf("lmtp listen: %w", err)
	}
	return lis, nil
}

// serveLMTP serves reports on lis and returns the function that stops it,
// letting the deliveries in flight finish their commit.
func serveLMTP(lis net.Listener, c mailConf, srv *server.Server, m *metrics.Metrics, log *slog.Logger) (stop func(time.Duration)) {
	opts := lmtp.Options{Take: srv, Header: c.Header, Delayed: c.Delayed, DefaultAccount: c.DefaultAccount,
		CreateAccounts: c.CreateAccounts, MaxSessions: c.MaxSessions, Log: log}
	if m != nil {
		opts.Count = m.MailEvents
		m.ServeMail(append(slices.Clone(server.TakenResults), lmtp.ResultNotReport))
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
		if err := s.Shutdown(ctx); err != nil {
			log.Warn("lmtp server shutdown: deliveries cut off; their MTAs retry", "err", err)
		}
	}
}
