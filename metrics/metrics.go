// Package metrics exposes dpmon's state and activity to Prometheus: what
// the store commits, what the server accepts and refuses, the phases of
// the accounts and the gRPC calls.
package metrics

import (
	"context"
	"net/http"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dpmon/dpmon/monitor"
)

const namespace = "dpmon"

// Metrics are dpmon's metrics on a registry of their own.
type Metrics struct {
	registry    *prometheus.Registry
	events      *prometheus.CounterVec
	commits     prometheus.Histogram
	transitions *prometheus.CounterVec
	senders     *prometheus.CounterVec
	attempts    *prometheus.CounterVec
	refused     *prometheus.CounterVec
	connections prometheus.Counter
	accounts    *prometheus.CounterVec
	hookEvents  *prometheus.CounterVec
	mailEvents  *prometheus.CounterVec
	// GRPC instruments the gRPC server (calls started, handled by code,
	// handling time, stream messages).
	GRPC *grpcprom.ServerMetrics
}

// PhaseCounter counts accounts by phase; the store is one.
type PhaseCounter interface {
	PhaseCounts() map[monitor.Phase]int
}

// New returns the metrics; CountPhases adds the accounts by phase.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_total",
			Help: "Events received, by type and result: accepted, duplicate (already accepted) or rejected (invalid).",
		}, []string{"type", "result"}),
		commits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "commit_duration_seconds",
			Help: "Time to write and fsync one commit group (the batches that share a transaction).",
			// From a fast SSD's fsync to a disk in trouble.
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "transitions_total",
			Help: "Phase changes, by the phase left and the phase entered.",
		}, []string{"from", "to"}),
		senders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sender_blocks_total",
			Help: "Sender addresses blocked by the bulk policy (action blocked) and unblocked (action unblocked).",
		}, []string{"action"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "notification_attempts_total",
			Help: "Delivery attempts by receiver and the state they left the notification in: delivered, pending (to be retried) or failed (given up).",
		}, []string{"receiver", "state"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "calls_refused_total",
			Help: "Calls refused from their headers, before their request was read, by reason: unauthenticated, permission_denied, starting, peer_streams, event_streams, unauthenticated_calls.",
		}, []string{"reason"}),
		connections: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "connections_refused_total",
			Help: "Connections closed at once because their peer had limits.max_connections_per_peer open.",
		}),
		accounts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "accounts_refused_total",
			Help: "Calls refused because they would create accounts, by reason: max_accounts (the server's limit), rate (the credential's pace) or not_allowed (its credential may not create accounts).",
		}, []string{"reason"}),
		hookEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "hook_events_total",
			Help: "Provider webhook events, by provider and result: accepted, duplicate, unmapped (kept for dpctl hooks unmapped), ignored (nothing for dpmon), rejected (invalid events and unreadable posts) or unauthorized (posts whose signature or credentials do not hold).",
		}, []string{"provider", "result"}),
		mailEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "mail_events_total",
			Help: "Events of bounce and feedback reports taken by LMTP, by result: accepted, duplicate, unmapped, ignored, rejected; not_report counts messages that are no report.",
		}, []string{"result"}),
		GRPC: grpcprom.NewServerMetrics(
			grpcprom.WithServerCounterOptions(grpcprom.WithNamespace(namespace)),
			// CheckSend sits on every send of a platform and is aimed at
			// a p99 of 2 ms: the buckets must resolve well below that.
			grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramNamespace(namespace),
				grpcprom.WithHistogramBuckets([]float64{0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5})),
		),
	}
	m.registry.MustRegister(m.events, m.commits, m.transitions, m.senders, m.attempts, m.refused, m.connections, m.accounts, m.hookEvents, m.mailEvents, m.GRPC,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: namespace}))
	for _, typ := range eventTypes {
		for _, result := range []string{"accepted", "duplicate", "rejected"} {
			m.events.WithLabelValues(typ, result) // present at zero from the start
		}
	}
	return m
}

// eventTypes are the label values of the event types, by monitor.EventType;
// "unknown" is a type the server could not read.
var eventTypes = [...]string{"unknown", "send", "delivery", "bounce", "complaint", "unsubscribe",
	"spam_trap_hit", "blocklist_listing", "open", "click", "auth_failure"}

func typeLabel(t monitor.EventType) string {
	if int(t) < len(eventTypes) {
		return eventTypes[t]
	}
	return eventTypes[0]
}

// CallRefused counts a call refused before its request was read.
func (m *Metrics) CallRefused(reason string) { m.refused.WithLabelValues(reason).Inc() }

// ConnectionRefused counts a connection closed for its peer's limit.
func (m *Metrics) ConnectionRefused() { m.connections.Inc() }

// AccountRefused counts a call refused because it would create accounts.
func (m *Metrics) AccountRefused(reason string) { m.accounts.WithLabelValues(reason).Inc() }

// CountPhases reports the accounts by phase, read from phases at each
// scrape. The store is opened with the Committed hook, so it comes after.
func (m *Metrics) CountPhases(phases PhaseCounter) {
	m.registry.MustRegister(phaseCollector{phases})
}

// CountDedupe reports the ids the dedupe index remembers and its floor,
// read from index at each scrape.
func (m *Metrics) CountDedupe(index DedupeCounter) {
	m.registry.MustRegister(dedupeCollector{index})
}

// DedupeCounter reports the dedupe index; the store is one.
type DedupeCounter interface {
	DedupeStats() (ids int, floor time.Time)
}

type dedupeCollector struct{ index DedupeCounter }

var (
	dedupeIDsDesc   = prometheus.NewDesc(namespace+"_dedupe_ids", "Event ids the dedupe index remembers.", nil, nil)
	dedupeFloorDesc = prometheus.NewDesc(namespace+"_dedupe_floor_timestamp_seconds",
		"Events that occurred before this are refused: the dedupe index, at its memory bound, forgot older ids (0: it forgot none).", nil, nil)
)

func (c dedupeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- dedupeIDsDesc
	ch <- dedupeFloorDesc
}

func (c dedupeCollector) Collect(ch chan<- prometheus.Metric) {
	ids, floor := c.index.DedupeStats()
	ch <- prometheus.MustNewConstMetric(dedupeIDsDesc, prometheus.GaugeValue, float64(ids))
	seconds := 0.0
	if !floor.IsZero() {
		seconds = float64(floor.Unix())
	}
	ch <- prometheus.MustNewConstMetric(dedupeFloorDesc, prometheus.GaugeValue, seconds)
}

// CountRecipientJournal reports the recipient records held in memory, read
// from journal at each scrape.
func (m *Metrics) CountRecipientJournal(journal RecipientJournalCounter) {
	m.registry.MustRegister(recipientJournalCollector{journal})
}

// RecipientJournalCounter reports the recipient records not yet merged into
// their tree; the store is one.
type RecipientJournalCounter interface {
	RecipientJournalStats() (current, merging int)
}

type recipientJournalCollector struct{ journal RecipientJournalCounter }

var recipientJournalDesc = prometheus.NewDesc(namespace+"_recipient_journal_records",
	"Recipient records held in memory and journaled, not yet merged into their tree: the current generation, and the one being merged.",
	[]string{"generation"}, nil)

func (c recipientJournalCollector) Describe(ch chan<- *prometheus.Desc) { ch <- recipientJournalDesc }

func (c recipientJournalCollector) Collect(ch chan<- prometheus.Metric) {
	current, merging := c.journal.RecipientJournalStats()
	ch <- prometheus.MustNewConstMetric(recipientJournalDesc, prometheus.GaugeValue, float64(current), "current")
	ch <- prometheus.MustNewConstMetric(recipientJournalDesc, prometheus.GaugeValue, float64(merging), "merging")
}

// NotificationAttempted is the notifier's hook: one attempt for receiver
// that left the notification in state.
func (m *Metrics) NotificationAttempted(receiver string, state monitor.NotificationState) {
	m.attempts.WithLabelValues(receiver, state.String()).Inc()
}

// CountNotifications reports the notifications by receiver and state, as
// outbox counts them (the store keeps the counts as it commits).
func (m *Metrics) CountNotifications(outbox OutboxCounter) {
	m.registry.MustRegister(outboxCollector{outbox})
}

// OutboxCounter counts notifications by receiver and state; the store is one.
type OutboxCounter interface {
	OutboxCounts(ctx context.Context) (map[string]map[monitor.NotificationState]int, error)
}

type outboxCollector struct{ outbox OutboxCounter }

var notificationsDesc = prometheus.NewDesc(namespace+"_notifications", "Notifications by receiver and state (pending, delivered, failed).",
	[]string{"receiver", "state"}, nil)

func (c outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- notificationsDesc }

func (c outboxCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.outbox.OutboxCounts(context.Background())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(notificationsDesc, err)
		return
	}
	for receiver, states := range counts {
		for _, s := range []monitor.NotificationState{monitor.NotificationPending, monitor.NotificationDelivered, monitor.NotificationFailed} {
			ch <- prometheus.MustNewConstMetric(notificationsDesc, prometheus.GaugeValue, float64(states[s]), receiver, s.String())
		}
	}
}

// Events counts n events of type t with result accepted, duplicate or
// rejected.
func (m *Metrics) Events(t monitor.EventType, result string, n int) {
	if n > 0 {
		m.events.WithLabelValues(typeLabel(t), result).Add(float64(n))
	}
}

// HookEvents counts n events of a provider's webhook with result (the
// web.Result values).
func (m *Metrics) HookEvents(provider, result string, n int) {
	if n > 0 {
		m.hookEvents.WithLabelValues(provider, result).Add(float64(n))
	}
}

// MailEvents counts n events of LMTP reports with result (the lmtp.Result
// values).
func (m *Metrics) MailEvents(result string, n int) {
	if n > 0 {
		m.mailEvents.WithLabelValues(result).Add(float64(n))
	}
}

// ServeHooks makes the hook counters of the providers served present at
// zero, so that a rate over them exists before the first post.
func (m *Metrics) ServeHooks(providers []string, results []string) {
	for _, p := range providers {
		for _, r := range results {
			m.hookEvents.WithLabelValues(p, r)
		}
	}
}

// ServeMail makes the mail counters present at zero.
func (m *Metrics) ServeMail(results []string) {
	for _, r := range results {
		m.mailEvents.WithLabelValues(r)
	}
}

// Committed is the store's commit hook: the commit's duration and the
// transitions it recorded.
func (m *Metrics) Committed(events int, took time.Duration, transitions []monitor.Transition) {
	m.commits.Observe(took.Seconds())
	for _, t := range transitions {
		switch {
		case t.Sender == "":
			m.transitions.WithLabelValues(t.From.String(), t.To.String()).Inc()
		case t.To == monitor.PhaseSuspended:
			m.senders.WithLabelValues("blocked").Inc()
		default:
			m.senders.WithLabelValues("unblocked").Inc()
		}
	}
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// phaseCollector reads the accounts by phase at scrape time from the
// counts the store keeps as it commits.
type phaseCollector struct{ phases PhaseCounter }

var accountsDesc = prometheus.NewDesc(namespace+"_accounts", "Accounts by phase.", []string{"phase"}, nil)

func (c phaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- accountsDesc }

func (c phaseCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.phases.PhaseCounts()
	for _, p := range []monitor.Phase{monitor.PhaseHealthy, monitor.PhaseWarning, monitor.PhaseSuspended, monitor.PhaseProbation} {
		ch <- prometheus.MustNewConstMetric(accountsDesc, prometheus.GaugeValue, float64(counts[p]), p.String())
	}
}
