package monitor

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Account is one sending account: its settings, its phase and the counts of
// its rolling windows. The counts are rebuilt from the event log and are not
// part of what is persisted about the account.
//
// The fields every accepted event and every judgement read come first, so
// that they share as few cache lines as can be: at hundreds of thousands of
// events a second over many accounts, memory is what ingestion waits for.
type Account struct {
	// CountFrom is when the account was last reinstated: events that
	// occurred before it no longer count.
	CountFrom time.Time
	// Quota are the account's sending limits.
	Quota Quota
	// ring, rep, tracks and the second's count are counted from the log,
	// not persisted. With the fields above, an event to the first provider
	// touches the account's first three cache lines and no other.
	ring Ring
	rep  reputationDays
	// tracks count the sender addresses under the bulk policy; nil for the
	// many accounts that have none.
	tracks *senderTracks
	// What Step reads of every account a batch touched, together.
	ID        string
	Overrides Overrides
	State     PhaseState

	// BulkSince is when the bulk policy last came to apply to the account:
	// what was sent before does not count, also when the log is replayed.
	BulkSince time.Time
	// second and secondSends count the sends of the latest second.
	second      int64
	secondSends uint32
	// ReputationLow is set while the score is below the alert level.
	ReputationLow bool
	// Bulk says whether the bulk policy applies to the account, or that
	// the policy's default decides; a byte, where a *bool took eight.
	Bulk BulkChoice
	// quiet marks the bucket in which Step last found the account healthy
	// with nothing more sends could change (see quietMark); 0 for none.
	// Until another count arrives or the bucket turns, Step need not
	// measure again (see stillQuiet). 16 bits keep the account in its
	// 768-byte size class.
	quiet uint16
	// Unsaved is the store's, on the cache line Step reads last: the first
	// log record the account's saved tallies do not include, or 0 when
	// they include all it counted. monitor neither reads nor changes it;
	// Clone copies it.
	Unsaved     uint64
	DisplayName string
	AdminEmails []string
	CreatedAt   time.Time
	// Reinstatements are when the account was reinstated, within the
	// policy's repeat window.
	Reinstatements []time.Time
	// OpenTicket is the id of its open reinstatement ticket, if any.
	OpenTicket string
	// Senders are the sender addresses the bulk policy blocked, and those
	// lately unblocked (which count afresh).
	Senders map[string]*Sender
}

// NewAccount returns a healthy account created at now, with windows shaped
// by p.
func NewAccount(id string, now time.Time, p Policy) *Account {
	return &Account{
		ID:        id,
		CreatedAt: now,
		State:     PhaseState{Phase: PhaseHealthy, Since: now, Reason: "New account."},
		ring:      NewRing(p.RingLen(), p.Spans()),
	}
}

// Observe counts an event that dpmon accepted at acceptedAt. The event is
// counted in the bucket of the time it occurred, or of acceptedAt for an
// event stamped slightly in the future, so that it counts at once.
//
// Observe keeps none of e's strings: replay passes strings that point into
// the log.
func (a *Account) Observe(e *Event, acceptedAt time.Time, p *Policy) {
	c := e.Counts()
	at := e.OccurredAt
	if at.After(acceptedAt) {
		at = acceptedAt
	}
	a.observeReputation(e, c, at, &p.Reputation)
	if e.Sender != "" && a.BulkEnabled(p) {
		a.observeSender(e, at, acceptedAt, p.Bulk)
	}
	if e.Type == EventSend && a.Quota.PerSecond > 0 {
		// By when dpmon learnt of the send: CheckSend asks about the
		// current second, and sends are reported after they happen.
		a.countSecond(acceptedAt)
	}
	// Events from before a reinstatement no longer count: by when they
	// occurred, and by when they were accepted (an event stamped a little
	// in the future and accepted before the reinstatement was emptied from
	// the windows with it; a replay must not count it again).
	if c == (Counts{}) || e.OccurredAt.Before(a.CountFrom) || acceptedAt.Before(a.CountFrom) {
		return
	}
	if c.HardBounces|c.Complaints|c.Blocks != 0 {
		a.quiet = 0
	}
	a.ring.Add(bucketOf(at, p.Bucket), c)
}

// Status is everything known about an account at one instant.
type Status struct {
	At       time.Time
	Policy   Policy
	Windows  []WindowStats
	Findings []Finding
}

// Status measures the account at now under the global policy and its own
// overrides.
func (a *Account) Status(now time.Time, global Policy) Status {
	st := a.judge(now, global)
	withRates(st.Windows)
	explain(st.Findings)
	return st
}

// judge measures and evaluates the account, without the words.
func (a *Account) judge(now time.Time, global Policy) Status {
	p := global.With(a.Overrides)
	windows := measure(&a.ring, now, &p)
	return Status{At: now, Policy: p, Windows: windows, Findings: evaluate(windows, &p)}
}

// Step measures the account at now and moves its phase if the policy says
// so. It returns the transition made, if any. Without a move it changes at
// most State.ClearSince. Step is idempotent at a given instant, so calling
// it after every batch and on a schedule is safe.
//
// Step runs after every batch for every account the batch touched, so the
// policy is passed by pointer and copied only for an account with
// overrides: copying it dominated the judgement of a quiet account.
func (a *Account) Step(now time.Time, global *Policy) (Transition, bool) {
	bucket := quietMark(bucketOf(now, global.Bucket))
	if a.quiet == bucket && a.stillQuiet(global) {
		return Transition{AccountID: a.ID}, false
	}
	p := global
	if !a.Overrides.empty() {
		merged := global.With(a.Overrides)
		p = &merged
	}
	var stats [MaxWindows]WindowStats
	windows := measureInto(stats[:], &a.ring, now, p)
	findings := evaluate(windows, p)
	t, ok := step(&a.State, now, p, findings)
	t.AccountID = a.ID
	a.quiet = 0
	if !ok && len(findings) == 0 && a.stillQuiet(global) && sendsChangeNothing(windows, p) {
		a.quiet = bucket
	}
	return t, ok
}

// quietMark is the mark of bucket b in Account.quiet: never 0, and the
// same for two buckets only 65,535 buckets apart (7 years of hours). By
// then every count the account was judged on has left its windows (see
// stillQuiet), so a healthy account that counted only sends since has
// nothing to find.
func quietMark(b int64) uint16 {
	return uint16(uint64(b)%0xffff) + 1
}

// stillQuiet reports whether the account is one whose judgement only
// other counts or a new bucket can change, once found without findings:
// healthy, judged by the global policy on measured rates. A send only
// lowers a measured rate, and a healthy account without findings has no
// timer running. (A confident decision's bound is not monotone in the
// sends, and the other phases have timers.)
func (a *Account) stillQuiet(global *Policy) bool {
	return a.State.Phase == PhaseHealthy && a.Overrides.empty() && global.Decision == DecisionMeasured && a.ring.n < 0xffff
}

// sendsChangeNothing reports whether more sends leave every window
// without findings under p. A window below its minimum volume is judged
// once sends lift it to that volume, which matters only if it counted
// something else: those counts weigh the most against the fewest sends it
// can be judged on, its minimum (a send only lowers a measured rate), so
// if they find nothing there, no number of sends makes them find anything.
// Young accounts, below the long window's minimum for days, stay quiet so.
func sendsChangeNothing(windows []WindowStats, p *Policy) bool {
	for _, w := range windows {
		if !w.BelowMinVolume || w.HardBounces|w.Complaints|w.Blocks == 0 {
			continue
		}
		w.Sends, w.BelowMinVolume = w.Window.MinSends, false
		if len(evaluate([]WindowStats{w}, p)) > 0 {
			return false
		}
	}
	return true
}

// Reinstate lifts a suspension: the account enters probation with its
// windows emptied, so that only what it sends from now on is judged.
func (a *Account) Reinstate(now time.Time, note, actor string, p Policy) (Transition, error) {
	if a.State.Phase != PhaseSuspended {
		return Transition{}, fmt.Errorf("%w: account %s is %s, not suspended", ErrFailedPrecondition, a.ID, a.State.Phase)
	}
	reason := fmt.Sprintf("Reinstated into probation for %s: until it ends, every warn threshold suspends at once.",
		DurationLabel(p.ProbationPeriod))
	if note != "" {
		reason += " Note: " + note
	}
	t := a.State.move(now, PhaseProbation, reason, nil)
	t.AccountID, t.Actor = a.ID, actor
	a.CountFrom = now
	a.ring.reset()
	a.Reinstatements = append(a.recentReinstatements(now, p), now)
	// The account starts afresh: warnings from before the suspension do not
	// count toward repeated warnings.
	a.State.Warnings = nil
	return t, nil
}

// RecentReinstatements counts the reinstatements within the policy's
// repeat window before now.
func (a *Account) RecentReinstatements(now time.Time, p Policy) int {
	return len(a.recentReinstatements(now, p))
}

// recentReinstatements returns, in a new slice, the reinstatements within
// the repeat window before now.
func (a *Account) recentReinstatements(now time.Time, p Policy) []time.Time {
	var out []time.Time
	for _, t := range a.Reinstatements {
		if p.RepeatReinstatementsWindow <= 0 || t.After(now.Add(-p.RepeatReinstatementsWindow)) {
			out = append(out, t)
		}
	}
	return out
}

// Clone returns a deep copy, for readers that must not share the live one.
func (a *Account) Clone() *Account {
	c := *a
	c.AdminEmails = slices.Clone(a.AdminEmails)
	c.State.Findings = slices.Clone(a.State.Findings)
	c.State.Recommendations = slices.Clone(a.State.Recommendations)
	c.State.Warnings = slices.Clone(a.State.Warnings)
	c.Reinstatements = slices.Clone(a.Reinstatements)
	c.Overrides.MinSends = maps.Clone(a.Overrides.MinSends)
	c.ring.used = slices.Clone(a.ring.used)
	c.Senders = cloneMap(a.Senders, func(s *Sender) *Sender { v := *s; return &v })
	c.tracks = a.tracks.clone()
	c.rep.past = slices.Clone(a.rep.past)
	return &c
}

// cloneMap copies m and each of its values.
func cloneMap[V any](m map[string]V, clone func(V) V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = clone(v)
	}
	return out
}

// WarmCount and WarmJudge read a word of each cache line that Count and
// Judge read of the account, and return them mixed so that the reads are
// not optimised away. A loop that only calls one of them, over the
// accounts of a batch, keeps many of those loads in flight at once. Count
// and Judge do too much per account for the processor to overlap one
// account's cache misses with the next's: under load, with thousands of
// accounts in turn, those misses took half of Judge's time.
func (a *Account) WarmCount() uint64 {
	w := uint64(a.CountFrom.Unix()) ^ uint64(a.ring.head) ^ a.ring.totals[MaxWindows-1].Blocks ^ uint64(a.rep.head)
	for i := 0; i < dayCells; i += 16 { // 64 bytes of cells
		w ^= uint64(a.rep.today[i])
	}
	if n := len(a.ring.used); n > 0 {
		w ^= uint64(a.ring.used[n-1].b)
	}
	return w
}

// WarmJudge: see WarmCount.
func (a *Account) WarmJudge() uint64 {
	w := uint64(a.ring.head) ^ a.ring.totals[0].Sends // measureInto
	w ^= uint64(len(a.ID)) ^ uint64(a.Overrides.Decision)
	w ^= uint64(a.State.Phase) ^ uint64(a.State.ClearSince.Unix()) ^ uint64(len(a.State.Warnings))
	return w ^ uint64(a.BulkSince.Unix()) ^ uint64(a.quiet)
}
