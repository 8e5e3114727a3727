package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/robfig/cron/v3"

	"github.com/dpmon/dpmon/metrics"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/notify"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
)

// run starts dpmon and serves until ctx is done, then shuts down in order:
// stop taking batches, finish the ones in flight, stop the schedule, close
// the store.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := configure(args, getenv, stderr)
	if err != nil {
		return err
	}
	policy, limits, err := cfg.policy()
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	suppression, err := cfg.Suppression.policy()
	if err != nil {
		return err
	}
	serverLimits, err := cfg.Limits.server()
	if err != nil {
		return err
	}
	auth, tlsCfg, err := cfg.Auth.setup(cfg.Listen, log)
	if err != nil {
		return err
	}
	if cfg.MetricsListen != "" {
		if err := cfg.Auth.checkExposure("serve metrics", cfg.MetricsListen, auth, log); err != nil {
			return err
		}
	}
	notifier, retry, err := newNotifier(cfg.Notify, log)
	if err != nil {
		return err
	}
	hooks, err := cfg.Hooks.options(log)
	if err != nil {
		return err
	}
	// Taken before the store opens, so that a port in use is told at once
	// rather than after a long replay; served once the store is ready.
	var httpLis net.Listener
	if cfg.HTTPListen != "" {
		if httpLis, err = net.Listen("tcp", cfg.HTTPListen); err != nil {
			return fmt.Errorf("http listen: %w", err)
		}
		// One peer cannot hold every connection, as on the API's port.
		httpLis = server.LimitListener(httpLis, cfg.Limits.MaxConnections, cfg.Limits.MaxConnectionsPerPeer, nil)
		defer httpLis.Close()
	}
	if err := cfg.Backup.check(); err != nil {
		return err
	}
	if err := cfg.Mail.check(); err != nil {
		return err
	}
	var lmtpLis net.Listener
	if cfg.LMTPListen != "" {
		if lmtpLis, err = listenLMTP(cfg.LMTPListen, cfg.Auth.Insecure, log); err != nil {
			return err
		}
		defer lmtpLis.Close()
	}
	var m *metrics.Metrics
	if cfg.MetricsListen != "" {
		m = metrics.New()
	}

	// The port opens before the store, whose replay may take a while:
	// meanwhile health answers NOT_SERVING and calls UNAVAILABLE with a
	// retry delay, instead of probes meeting a closed port.
	raw, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var connRefused func()
	if m != nil {
		connRefused = m.ConnectionRefused
	}
	lis := server.LimitListener(raw, cfg.Limits.MaxConnections, cfg.Limits.MaxConnectionsPerPeer, connRefused)
	opts := server.Options{
		Logger:               log,
		MaxConcurrentStreams: cfg.MaxConcurrentStreams,
		MaxPendingEvents:     cfg.MaxPendingEvents,
		Auth:                 auth,
		Retry:                retry,
		Limits:               serverLimits,
		Ban:                  lis.Ban,
	}
	if m != nil {
		opts.CountEvents = m.Events
		opts.Refused, opts.RefusedAccount = m.CallRefused, m.AccountRefused
		opts.Unary = append(opts.Unary, m.GRPC.UnaryServerInterceptor())
		opts.Stream = append(opts.Stream, m.GRPC.StreamServerInterceptor())
	}
	srv := server.Starting(opts)
	gs := srv.GRPCServer(transport(tlsCfg)...)
	if m != nil {
		m.GRPC.InitializeMetrics(gs)
	}
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	log.Info("dpmon listening; opening the store", "addr", lis.Addr().String())
	stopServing := func() {
		gs.Stop()
		<-served
	}

	storeOpts := store.Options{Policy: policy, Limits: limits, Suppression: suppression, MaxAccounts: cfg.Limits.MaxAccounts,
		LockTimeout: time.Duration(cfg.LockTimeout), CheckpointEvents: cfg.Events.CheckpointEvents,
		CheckpointInterval: time.Duration(cfg.Events.CheckpointInterval), DedupeMemory: int64(cfg.Events.DedupeMemory),
		RecipientJournal: cfg.Events.RecipientJournal}
	if notifier != nil {
		storeOpts.Route = notifier.Route
	}
	if m != nil {
		storeOpts.Committed = m.Committed
	}
	db, err := store.Open(cfg.DataDir, storeOpts)
	if err != nil {
		stopServing()
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()
	if notifier != nil {
		if m != nil {
			notifier.Attempted = m.NotificationAttempted
			m.CountNotifications(db)
		}
		// Deferred after the store's Close, so it runs first: the notifier
		// stops before the store closes.
		defer startNotifier(notifier, db, time.Duration(cfg.Notify.Poll))()
	}
	if m != nil {
		m.CountPhases(db)
		m.CountDedupe(db)
		m.CountRecipientJournal(db)
		stopMetrics, err := serveMetrics(cfg.MetricsListen, m, auth, tlsCfg, log)
		if err != nil {
			stopServing()
			return err
		}
		defer stopMetrics()
	}

	jobs, err := schedule(ctx, cfg.Schedule, cfg.Backup, db, cfg.Notify, cfg.Retention.retention(), log)
	if err != nil {
		stopServing()
		return err
	}
	jobs.Start()

	r := db.Replayed()
	for _, m := range r.Migrations {
		log.Info("store migrated", "from_schema", m.From, "to_schema", m.To, "step", m.What)
	}
	if r.Dropped != nil {
		log.Warn("the saved counts could not be used; counted the whole event log instead", "reason", r.Dropped.Error())
	}
	if r.IndexFileRefused != nil {
		log.Warn("the dedupe index file could not be used; rebuilt the index from the log", "reason", r.IndexFileRefused.Error())
	}
	log.Info("state loaded", "accounts", r.Accounts, "dormant_accounts", r.Dormant, "events_replayed", r.Events,
		"ids_indexed", r.IDs, "index_from_file", r.IndexFile, "ids_from_log", r.IDsFromLog, "took", r.Took.Round(time.Millisecond).String())
	// A signal during the replay shuts the server down without serving.
	stopHTTP, stopLMTP := func(time.Duration) {}, func(time.Duration) {}
	if ctx.Err() == nil {
		srv.Ready(db)
		if httpLis != nil {
			ui, err := newConsole(httpLis, cfg.Auth, auth, srv, db, log)
			if err != nil {
				stopServing()
				<-jobs.Stop().Done()
				return err
			}
			stopHTTP = serveHTTP(httpLis, hooks, ui, srv, m, tlsCfg, log)
		}
		if lmtpLis != nil {
			stopLMTP = serveLMTP(lmtpLis, cfg.Mail, srv, m, log)
		}
		// Under systemd (Type=notify), the unit is up only now: the store
		// is open and every listener serves.
		sdNotify(log, daemon.SdNotifyReady)
		abs, _ := filepath.Abs(cfg.DataDir)
		log.Info("dpmon serving", "addr", lis.Addr().String(), "data_dir", abs,
			"windows", fmt.Sprintf("%s/%s", policy.Windows[0].Name, policy.Windows[1].Name), "decision", policy.Decision.String())
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		stopReceivers(time.Duration(cfg.ShutdownTimeout), stopHTTP, stopLMTP)
		<-jobs.Stop().Done()
		return fmt.Errorf("serve: %w", err)
	}

	sdNotify(log, daemon.SdNotifyStopping)
	log.Info("shutting down", "timeout", time.Duration(cfg.ShutdownTimeout).String())
	// Webhook posts and LMTP deliveries in flight finish their commit
	// first: their senders are answered, and retry what is cut off.
	stopReceivers(time.Duration(cfg.ShutdownTimeout), stopHTTP, stopLMTP)
	srv.Drain()
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(time.Duration(cfg.ShutdownTimeout)):
		log.Warn("shutdown timeout: closing the remaining connections")
		gs.Stop()
		<-stopped
	}
	<-jobs.Stop().Done()
	log.Info("stopped")
	return nil
}

// sdNotify tells systemd of a change of state (sd_notify), when it runs
// dpmon as a Type=notify unit; elsewhere it does nothing.
func sdNotify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("could not tell systemd", "state", state, "err", err)
	}
}

// stopReceivers stops the webhook and LMTP listeners at once, each letting
// what is in flight finish within timeout: one deadline for both, so that
// a shutdown's stages do not add up past a supervisor's patience.
func stopReceivers(timeout time.Duration, stops ...func(time.Duration)) {
	var wg sync.WaitGroup
	for _, stop := range stops {
		wg.Go(func() { stop(timeout) })
	}
	wg.Wait()
}

// configure reads defaults, then the --config file, then the environment,
// then the flags given on the command line.
func configure(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("dpmon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration `file` (flags win over it)")
	listen := fs.String("listen", cfg.Listen, "gRPC listen `address` (env DPMON_LISTEN)")
	dataDir := fs.String("data-dir", cfg.DataDir, "`directory` of the bbolt file (env DPMON_DATA_DIR)")
	lockTimeout := fs.Duration("lock-timeout", time.Duration(cfg.LockTimeout), "how long to wait for another dpmon to let go of the data directory")
	logLevel := fs.String("log-level", cfg.LogLevel, "debug, info, warn or error")
	metricsListen := fs.String("metrics-listen", cfg.MetricsListen, "serve Prometheus metrics at http://`address`/metrics (off when empty)")
	lmtpListen := fs.String("lmtp-listen", cfg.LMTPListen, "take bounce and feedback reports by LMTP at `address` (host:port or unix:PATH; off when empty; env DPMON_LMTP_LISTEN)")
	httpListen := fs.String("http-listen", cfg.HTTPListen, "serve the providers' webhooks at http://`address`/v1/hooks/ and the web console at /ui/ (off when empty; env DPMON_HTTP_LISTEN)")
	tokens := fs.String("tokens", cfg.Auth.TokensFile, "token `file` (YAML); without one every caller is an admin, on loopback only")
	tlsCert := fs.String("tls-cert", cfg.Auth.TLSCert, "TLS certificate `file` (PEM)")
	tlsKey := fs.String("tls-key", cfg.Auth.TLSKey, "TLS key `file` (PEM)")
	tlsClientCA := fs.String("tls-client-ca", cfg.Auth.TLSClientCA, "CA `file` (PEM) of client certificates (mTLS), matched to client_cn in the token file")
	insecure := fs.Bool("insecure", cfg.Auth.Insecure, "allow serving without authentication beyond loopback")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *configPath != "" {
		if err := cfg.loadFile(*configPath); err != nil {
			return cfg, err
		}
	}
	if v := getenv("DPMON_LISTEN"); v != "" {
		cfg.Listen = v
	}
	if v := getenv("DPMON_DATA_DIR"); v != "" {
		cfg.DataDir = v
	}
	if v := getenv("DPMON_HTTP_LISTEN"); v != "" {
		cfg.HTTPListen = v
	}
	if v := getenv("DPMON_LMTP_LISTEN"); v != "" {
		cfg.LMTPListen = v
	}
	cfg.Hooks.fromEnv(getenv)
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "listen":
			cfg.Listen = *listen
		case "data-dir":
			cfg.DataDir = *dataDir
		case "lock-timeout":
			cfg.LockTimeout = duration(*lockTimeout)
		case "log-level":
			cfg.LogLevel = *logLevel
		case "metrics-listen":
			cfg.MetricsListen = *metricsListen
		case "http-listen":
			cfg.HTTPListen = *httpListen
		case "lmtp-listen":
			cfg.LMTPListen = *lmtpListen
		case "tokens":
			cfg.Auth.TokensFile = *tokens
		case "tls-cert":
			cfg.Auth.TLSCert = *tlsCert
		case "tls-key":
			cfg.Auth.TLSKey = *tlsKey
		case "tls-client-ca":
			cfg.Auth.TLSClientCA = *tlsClientCA
		case "insecure":
			cfg.Auth.Insecure = *insecure
		}
	})
	return cfg, nil
}

// schedule registers the periodic jobs; each body is one exported store
// method that tests call directly.
func schedule(ctx context.Context, s scheduleConf, b backupConf, db *store.DB, n notifyConf, retention store.Retention, log *slog.Logger) (*cron.Cron, error) {
	c := cron.New(cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)))
	type job struct {
		name, spec string
		run        func(now time.Time) error
	}
	jobs := []job{
		{"evaluate", s.Evaluate, func(now time.Time) error {
			n, err := db.Sweep(ctx, now)
			if n > 0 {
				log.Info("evaluated accounts", "transitions", n)
			}
			return err
		}},
		{"prune", s.Prune, func(now time.Time) error {
			if err := db.Prune(ctx, now); err != nil {
				return err
			}
			r, err := db.Retain(ctx, now, retention)
			if r != (store.Retained{}) {
				log.Info("pruned settled records", "notifications", r.Notifications, "tickets", r.Tickets, "audit", r.Audit)
			}
			return err
		}},
		{"reputation", s.Reputation, func(now time.Time) error { return db.RecordReputation(ctx, now) }},
		{"index", s.Index, func(time.Time) error { return db.SaveIndex(ctx) }},
	}
	if email, ok, err := n.SMTP.email(); err != nil {
		return nil, err
	} else if ok && len(n.OperatorEmails) > 0 {
		email.To = n.OperatorEmails
		jobs = append(jobs, job{"digest", s.Digest, func(now time.Time) error { return notify.Digest(ctx, db, email, now) }})
	}
	if b.Dir != "" {
		jobs = append(jobs, job{"backup", b.Schedule, func(now time.Time) error {
			path, info, err := db.SnapshotInto(ctx, monitor.Actor{Name: "scheduled backup", Role: "system"}, b.Dir, now, b.Keep)
			if err == nil {
				log.Info("backup written and checked", "path", path, "bytes", info.Size, "accounts", info.Accounts, "keep", b.Keep)
			}
			return err
		}})
	}
	for _, j := range jobs {
		if _, err := c.AddFunc(j.spec, func() {
			if err := j.run(time.Now()); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("scheduled job failed", "job", j.name, "err", err)
			}
		}); err != nil {
			return nil, fmt.Errorf("schedule.%s %q: %w", j.name, j.spec, err)
		}
	}
	return c, nil
}
