package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
)

// config is the whole of dpmon's configuration: defaults, overlaid by the
// --config YAML file, by the environment and by flags, in that order.
type config struct {
	Listen               string          `yaml:"listen"`
	DataDir              string          `yaml:"data_dir"`
	LockTimeout          duration        `yaml:"lock_timeout"`
	LogLevel             string          `yaml:"log_level"`
	ShutdownTimeout      duration        `yaml:"shutdown_timeout"`
	MaxConcurrentStreams uint32          `yaml:"max_concurrent_streams"`
	MaxPendingEvents     int64           `yaml:"max_pending_events"`
	MetricsListen        string          `yaml:"metrics_listen"`
	HTTPListen           string          `yaml:"http_listen"`
	Hooks                hooksConf       `yaml:"hooks"`
	LMTPListen           string          `yaml:"lmtp_listen"`
	Mail                 mailConf        `yaml:"mail"`
	Limits               limitsConf      `yaml:"limits"`
	Schedule             scheduleConf    `yaml:"schedule"`
	Events               eventsConf      `yaml:"events"`
	Retention            retentionConf   `yaml:"retention"`
	Backup               backupConf      `yaml:"backup"`
	Policy               policyConf      `yaml:"policy"`
	Windows              windowsConf     `yaml:"windows"`
	Suppression          suppressionConf `yaml:"suppression"`
	Escalation           escalationConf  `yaml:"escalation"`
	Bulk                 bulkConf        `yaml:"bulk"`
	Quota                quotaConf       `yaml:"quota"`
	Reputation           reputationConf  `yaml:"reputation"`
	Auth                 authConf        `yaml:"auth"`
	Notify               notifyConf      `yaml:"notify"`
}

// limitsConf bound what callers may make the server hold (see
// server.Limits and the README's limits table).
type limitsConf struct {
	// MaxAccounts bounds the accounts tracked; 0 is no bound.
	MaxAccounts             int      `yaml:"max_accounts"`
	NewAccountsPerMinute    int      `yaml:"new_accounts_per_minute"`
	MaxMessageBytes         byteSize `yaml:"max_message_bytes"`
	MaxDecodingBytes        byteSize `yaml:"max_decoding_bytes"`
	MaxConnections          int      `yaml:"max_connections"`
	MaxConnectionsPerPeer   int      `yaml:"max_connections_per_peer"`
	MaxStreamsPerPeer       int      `yaml:"max_streams_per_peer"`
	MaxEventStreams         int      `yaml:"max_event_streams"`
	MaxUnauthenticatedCalls int      `yaml:"max_unauthenticated_calls"`
	MaxRefusalsPerPeer      int      `yaml:"max_refusals_per_peer"`
}

// Defaults of the limits the server package does not own.
const (
	defaultMaxAccounts           = 100_000
	defaultMaxConnections        = 4096
	defaultMaxConnectionsPerPeer = 256
)

func defaultLimitsConf() limitsConf {
	return limitsConf{
		MaxAccounts: defaultMaxAccounts, NewAccountsPerMinute: server.DefaultNewAccountsPerMinute,
		MaxMessageBytes: server.DefaultMaxMessageBytes, MaxDecodingBytes: server.DefaultMaxDecodingBytes,
		MaxConnections: defaultMaxConnections, MaxConnectionsPerPeer: defaultMaxConnectionsPerPeer,
		MaxStreamsPerPeer: server.DefaultMaxStreamsPerPeer, MaxEventStreams: server.DefaultMaxEventStreams,
		MaxUnauthenticatedCalls: server.DefaultMaxUnauthenticatedCalls, MaxRefusalsPerPeer: server.DefaultMaxRefusalsPerPeer,
	}
}

// server returns the limits the server applies, once checked.
func (c limitsConf) server() (server.Limits, error) {
	switch {
	case c.MaxAccounts < 0:
		return server.Limits{}, errors.New("config: limits.max_accounts must not be negative (0: no limit)")
	case c.MaxConnections <= 0 || c.MaxConnectionsPerPeer <= 0:
		return server.Limits{}, errors.New("config: limits.max_connections and max_connections_per_peer must be positive")
	case c.MaxConnectionsPerPeer > c.MaxConnections:
		return server.Limits{}, errors.New("config: limits.max_connections_per_peer must not exceed limits.max_connections")
	}
	l := server.Limits{
		MaxMessageBytes: int(c.MaxMessageBytes), MaxDecodingBytes: int64(c.MaxDecodingBytes),
		MaxStreamsPerPeer: c.MaxStreamsPerPeer, MaxEventStreams: c.MaxEventStreams,
		MaxUnauthenticatedCalls: c.MaxUnauthenticatedCalls, MaxRefusalsPerPeer: c.MaxRefusalsPerPeer,
		NewAccountsPerMinute: c.NewAccountsPerMinute,
	}
	if err := l.Validate(); err != nil {
		return l, fmt.Errorf("config: %w", err)
	}
	return l, nil
}

// escalationConf are the rules for unanswered and repeated warnings and
// for accounts reinstated again and again (see monitor.Escalation).
type escalationConf struct {
	AckDeadline                duration `yaml:"ack_deadline"`
	RepeatedWarnings           int      `yaml:"repeated_warnings"`
	RepeatedWarningsWindow     duration `yaml:"repeated_warnings_window"`
	RepeatReinstatements       int      `yaml:"repeat_reinstatements"`
	RepeatReinstatementsWindow duration `yaml:"repeat_reinstatements_window"`
	RepeatApprovals            int      `yaml:"repeat_approvals"`
}

// bulkConf is the bulk policy of shared relays (see monitor.BulkPolicy).
type bulkConf struct {
	// Enabled is the default of accounts that UpdateAccount did not set.
	Enabled      bool     `yaml:"enabled"`
	Window       duration `yaml:"window"`
	BaseLimit    int      `yaml:"base_limit"`
	MinLimit     int      `yaml:"min_limit"`
	BounceWeight float64  `yaml:"bounce_weight"`
	ShareFloor   int      `yaml:"share_floor"`
	BusyVolume   uint64   `yaml:"busy_volume"`
}

// quotaConf says how the phase lowers quotas (see monitor.QuotaPolicy).
type quotaConf struct {
	ReducedFactor float64 `yaml:"reduced_factor"`
}

// reputationConf shapes the score (see monitor.ReputationPolicy).
type reputationConf struct {
	Days          int            `yaml:"days"`
	AlertBelow    int            `yaml:"alert_below"`
	AlertMinSends uint64         `yaml:"alert_min_sends"`
	Engagement    bool           `yaml:"engagement"`
	Providers     []providerConf `yaml:"providers"`
}

type providerConf struct {
	Name    string   `yaml:"name"`
	Domains []string `yaml:"domains"`
}

// suppressionConf are the per-recipient rules (see monitor.SuppressionPolicy).
type suppressionConf struct {
	ProviderDomains  []string `yaml:"provider_domains"`
	HardBounces      int      `yaml:"hard_bounces"`
	HardBounceWindow duration `yaml:"hard_bounce_window"`
	FirstBlock       duration `yaml:"first_block"`
	BlockGrowth      float64  `yaml:"block_growth"`
	MaxBlock         duration `yaml:"max_block"`
	PermanentAfter   int      `yaml:"permanent_after"`
	HistoryLimit     int      `yaml:"history_limit"`
}

func (c suppressionConf) policy() (monitor.SuppressionPolicy, error) {
	p := monitor.SuppressionPolicy{
		ProviderDomains: c.ProviderDomains, HardBounces: c.HardBounces, HardBounceWindow: time.Duration(c.HardBounceWindow),
		FirstBlock: time.Duration(c.FirstBlock), BlockGrowth: c.BlockGrowth, MaxBlock: time.Duration(c.MaxBlock),
		PermanentAfter: c.PermanentAfter, HistoryLimit: c.HistoryLimit,
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("config: %w", err)
	}
	return p, nil
}

// backupConf is the scheduled backup: a checked snapshot into Dir on
// Schedule, the newest Keep kept. Off without a Dir.
type backupConf struct {
	Dir      string `yaml:"dir"`
	Schedule string `yaml:"schedule"`
	Keep     int    `yaml:"keep"`
}

func (b backupConf) check() error {
	if b.Dir != "" && b.Keep < 1 {
		return fmt.Errorf("config: backup.keep must be at least 1, got %d", b.Keep)
	}
	return nil
}

type scheduleConf struct {
	// Evaluate judges every account (robfig/cron syntax).
	Evaluate string `yaml:"evaluate"`
	// Prune forgets events beyond the dedupe horizon.
	Prune string `yaml:"prune"`
	// Digest emails the operators what needs them (with notify.smtp and
	// notify.operator_emails).
	Digest string `yaml:"digest"`
	// Reputation records every account's score of the day; days are UTC,
	// so the default runs near the end of the UTC day.
	Reputation string `yaml:"reputation"`
	// Index saves the dedupe index to its file, so that a start after a
	// crash indexes from the log only what came since.
	Index string `yaml:"index"`
}

// retentionConf says how long settled records are kept (store.Retention).
type retentionConf struct {
	Notifications duration `yaml:"notifications"`
	Tickets       duration `yaml:"tickets"`
	Audit         duration `yaml:"audit"`
}

func (r retentionConf) retention() store.Retention {
	return store.Retention{Notifications: time.Duration(r.Notifications), Tickets: time.Duration(r.Tickets), Audit: time.Duration(r.Audit)}
}

type eventsConf struct {
	DedupeHorizon duration `yaml:"dedupe_horizon"`
	MaxClockSkew  duration `yaml:"max_clock_skew"`
	// CheckpointEvents and CheckpointInterval pace the saving of the
	// accounts' counts: a start replays at most that much of the log.
	CheckpointEvents   int      `yaml:"checkpoint_events"`
	CheckpointInterval duration `yaml:"checkpoint_interval"`
	// DedupeMemory bounds the dedupe index's memory (0: no bound): past
	// it the oldest ids are forgotten, and events that occurred before
	// them are refused (see store.Options.DedupeMemory).
	DedupeMemory byteSize `yaml:"dedupe_memory"`
	// RecipientJournal is how many recipient changes are gathered in
	// memory, and journaled, before they are merged into the recipients'
	// tree (see store.Options.RecipientJournal).
	RecipientJournal int `yaml:"recipient_journal"`
}

type policyConf struct {
	HardBounceRate  thresholdsConf `yaml:"hard_bounce_rate"`
	ComplaintRate   thresholdsConf `yaml:"complaint_rate"`
	BlockRate       thresholdsConf `yaml:"block_rate"`
	Decision        string         `yaml:"decision"`
	CoolDown        duration       `yaml:"cool_down"`
	ProbationPeriod duration       `yaml:"probation_period"`
}

type thresholdsConf struct {
	Warn    float64 `yaml:"warn"`
	Suspend float64 `yaml:"suspend"`
}

// windowsConf configures the two windows. "short" and "long" are only
// the keys of this file: everywhere else, in GetAccount's windows, in
// findings and as the keys of policy_overrides.min_sends, a window is
// named by its length (monitor.DurationLabel): "24h" and "7d" by default.
type windowsConf struct {
	Bucket duration   `yaml:"bucket"`
	Short  windowConf `yaml:"short"`
	Long   windowConf `yaml:"long"`
}

type windowConf struct {
	Length   duration `yaml:"length"`
	MinSends uint64   `yaml:"min_sends"`
}

// defaultConfig is what `go run ./cmd/dpmon` runs with.
func defaultConfig() config {
	p, l, s := monitor.DefaultPolicy(), monitor.DefaultLimits(), monitor.DefaultSuppressionPolicy()
	e, b, r := p.Escalation, p.Bulk, p.Reputation
	rt := store.DefaultRetention()
	var providers []providerConf
	for _, pr := range r.Providers {
		providers = append(providers, providerConf(pr))
	}
	return config{
		Bulk: bulkConf{Enabled: b.Enabled, Window: duration(b.Window), BaseLimit: b.BaseLimit, MinLimit: b.MinLimit,
			BounceWeight: b.BounceWeight, ShareFloor: b.ShareFloor, BusyVolume: b.BusyVolume},
		Quota:      quotaConf{ReducedFactor: p.Quota.ReducedFactor},
		Reputation: reputationConf{Days: r.Days, AlertBelow: r.AlertBelow, AlertMinSends: r.AlertMinSends, Engagement: r.Engagement, Providers: providers},
		Notify:     defaultNotifyConf(),
		Escalation: escalationConf{
			AckDeadline: duration(e.AckDeadline), RepeatedWarnings: e.RepeatedWarnings,
			RepeatedWarningsWindow: duration(e.RepeatedWarningsWindow), RepeatReinstatements: e.RepeatReinstatements,
			RepeatReinstatementsWindow: duration(e.RepeatReinstatementsWindow), RepeatApprovals: e.RepeatApprovals,
		},
		Suppression: suppressionConf{
			ProviderDomains: s.ProviderDomains, HardBounces: s.HardBounces, HardBounceWindow: duration(s.HardBounceWindow),
			FirstBlock: duration(s.FirstBlock), BlockGrowth: s.BlockGrowth, MaxBlock: duration(s.MaxBlock),
			PermanentAfter: s.PermanentAfter, HistoryLimit: s.HistoryLimit,
		},
		Limits: defaultLimitsConf(),
		Hooks:  defaultHooksConf(),
		Retention: retentionConf{Notifications: duration(rt.Notifications), Tickets: duration(rt.Tickets),
			Audit: duration(rt.Audit)},
		Listen:               "127.0.0.1:7411",
		DataDir:              "./dpmon-data",
		LockTimeout:          duration(time.Second),
		LogLevel:             "info",
		ShutdownTimeout:      duration(10 * time.Second),
		MaxConcurrentStreams: 256,
		MaxPendingEvents:     server.DefaultMaxPendingEvents,
		Backup:               backupConf{Schedule: "CRON_TZ=UTC 30 2 * * *", Keep: 7},
		Schedule:             scheduleConf{Evaluate: "@every 1m", Prune: "@hourly", Digest: "@daily", Reputation: "CRON_TZ=UTC 55 23 * * *", Index: "@every 5m"},
		Events: eventsConf{DedupeHorizon: duration(l.DedupeHorizon), MaxClockSkew: duration(l.MaxClockSkew),
			CheckpointEvents: 1 << 20, CheckpointInterval: duration(30 * time.Second), RecipientJournal: 1 << 16},
		Policy: policyConf{
			HardBounceRate:  thresholdsConf(p.HardBounce),
			ComplaintRate:   thresholdsConf(p.Complaint),
			BlockRate:       thresholdsConf(p.Block),
			Decision:        p.Decision.String(),
			CoolDown:        duration(p.CoolDown),
			ProbationPeriod: duration(p.ProbationPeriod),
		},
		Windows: windowsConf{
			Bucket: duration(p.Bucket),
			Short:  windowConf{Length: duration(p.Windows[0].Length), MinSends: p.Windows[0].MinSends},
			Long:   windowConf{Length: duration(p.Windows[1].Length), MinSends: p.Windows[1].MinSends},
		},
	}
}

// loadFile overlays the YAML file at path; unknown keys are errors, so a
// typo does not silently keep a default.
func (c *config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// policy builds the domain policy and limits and checks them.
func (c *config) policy() (monitor.Policy, monitor.Limits, error) {
	var decision monitor.Decision
	switch strings.ToLower(c.Policy.Decision) {
	case "measured":
		decision = monitor.DecisionMeasured
	case "confident":
		decision = monitor.DecisionConfident
	default:
		return monitor.Policy{}, monitor.Limits{}, fmt.Errorf("config: policy.decision must be measured or confident, got %q", c.Policy.Decision)
	}
	p := monitor.Policy{
		HardBounce:      monitor.Thresholds(c.Policy.HardBounceRate),
		Complaint:       monitor.Thresholds(c.Policy.ComplaintRate),
		Block:           monitor.Thresholds(c.Policy.BlockRate),
		Decision:        decision,
		CoolDown:        time.Duration(c.Policy.CoolDown),
		ProbationPeriod: time.Duration(c.Policy.ProbationPeriod),
		Bucket:          time.Duration(c.Windows.Bucket),
		Escalation: monitor.Escalation{
			AckDeadline: time.Duration(c.Escalation.AckDeadline), RepeatedWarnings: c.Escalation.RepeatedWarnings,
			RepeatedWarningsWindow: time.Duration(c.Escalation.RepeatedWarningsWindow), RepeatReinstatements: c.Escalation.RepeatReinstatements,
			RepeatReinstatementsWindow: time.Duration(c.Escalation.RepeatReinstatementsWindow), RepeatApprovals: c.Escalation.RepeatApprovals,
		},
		Bulk: monitor.BulkPolicy{Enabled: c.Bulk.Enabled, Window: time.Duration(c.Bulk.Window), BaseLimit: c.Bulk.BaseLimit,
			MinLimit: c.Bulk.MinLimit, BounceWeight: c.Bulk.BounceWeight, ShareFloor: c.Bulk.ShareFloor, BusyVolume: c.Bulk.BusyVolume},
		Quota: monitor.QuotaPolicy{ReducedFactor: c.Quota.ReducedFactor},
		Reputation: monitor.ReputationPolicy{Days: c.Reputation.Days, AlertBelow: c.Reputation.AlertBelow,
			AlertMinSends: c.Reputation.AlertMinSends, Engagement: c.Reputation.Engagement},
	}
	var providers []monitor.Provider
	for _, pr := range c.Reputation.Providers {
		providers = append(providers, monitor.Provider(pr))
	}
	p.Reputation.SetProviders(providers)
	for _, w := range []windowConf{c.Windows.Short, c.Windows.Long} {
		length := time.Duration(w.Length)
		p.Windows = append(p.Windows, monitor.Window{Name: monitor.DurationLabel(length), Length: length, MinSends: w.MinSends})
	}
	if err := p.Validate(); err != nil {
		return p, monitor.Limits{}, fmt.Errorf("config: %w", err)
	}
	l := monitor.Limits{DedupeHorizon: time.Duration(c.Events.DedupeHorizon), MaxClockSkew: time.Duration(c.Events.MaxClockSkew)}
	if l.DedupeHorizon <= p.Longest() {
		return p, l, fmt.Errorf("config: events.dedupe_horizon %s must be longer than the long window %s", l.DedupeHorizon, p.Longest())
	}
	if errs := p.Reputation.Validate(l.DedupeHorizon); len(errs) > 0 {
		return p, l, fmt.Errorf("config: %w", errs)
	}
	if c.MaxPendingEvents < server.MaxBatchEvents {
		return p, l, fmt.Errorf("config: max_pending_events must be at least one full batch, %d", server.MaxBatchEvents)
	}
	if c.Retention.Notifications <= 0 || c.Retention.Tickets <= 0 || c.Retention.Audit <= 0 {
		return p, l, errors.New("config: retention.notifications, retention.tickets and retention.audit must be positive")
	}
	if c.Events.CheckpointEvents < 1 || c.Events.CheckpointInterval <= 0 {
		return p, l, errors.New("config: events.checkpoint_events and events.checkpoint_interval must be positive")
	}
	if c.Events.RecipientJournal < 1 {
		return p, l, errors.New("config: events.recipient_journal must be positive")
	}
	if m := c.Events.DedupeMemory; m != 0 && m < 16<<20 {
		return p, l, errors.New("config: events.dedupe_memory must be 0 (no bound) or at least 16MiB")
	}
	if l.MaxClockSkew < 0 {
		return p, l, errors.New("config: events.max_clock_skew must not be negative")
	}
	return p, l, nil
}

// byteSize is a number of bytes that YAML writes as 16MiB, 512KiB or 1GiB
// (or a plain number).
type byteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = byteSize(v)
	return nil
}

func (b byteSize) MarshalYAML() (any, error) {
	for _, u := range byteUnits {
		if int64(b) >= u.factor && int64(b)%u.factor == 0 {
			return strconv.FormatInt(int64(b)/u.factor, 10) + u.suffix, nil
		}
	}
	return strconv.FormatInt(int64(b), 10), nil
}

func parseByteSize(s string) (int64, error) {
	factor := int64(1)
	digits := s
	for _, u := range byteUnits {
		if d, ok := strings.CutSuffix(s, u.suffix); ok {
			factor, digits = u.factor, d
			break
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/factor {
		return 0, fmt.Errorf("invalid size %q (want e.g. 16MiB, 512KiB or 1GiB)", s)
	}
	return n * factor, nil
}

// duration is a time.Duration that YAML writes as "90s", "24h" or "7d".
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = duration(v)
	return nil
}

func (d duration) MarshalYAML() (any, error) { return monitor.DurationLabel(time.Duration(d)), nil }

// parseDuration reads Go durations and whole days ("7d").
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 90s, 24h or 7d)", s)
	}
	return v, nil
}
