package monitor

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Decision says how a measured rate is compared with a threshold.
type Decision uint8

// The decision modes; the numbers match the wire enum.
const (
	// DecisionMeasured breaches when the measured rate reaches the threshold.
	DecisionMeasured Decision = 1
	// DecisionConfident breaches only when the lower bound of the rate's
	// 95 % confidence interval reaches the threshold.
	DecisionConfident Decision = 2
)

// Valid reports whether d is a known decision mode.
func (d Decision) Valid() bool { return d == DecisionMeasured || d == DecisionConfident }

func (d Decision) String() string {
	switch d {
	case DecisionMeasured:
		return "measured"
	case DecisionConfident:
		return "confident"
	}
	return "unspecified"
}

// Thresholds are the warn and suspend levels of one rate, as fractions.
type Thresholds struct {
	Warn    float64
	Suspend float64
}

// Policy is the full set of rules applied to an account.
type Policy struct {
	HardBounce Thresholds
	Complaint  Thresholds
	// Block is the rate of bounces that refused the sender. It speaks of
	// reputation rather than of the list, so by default it only warns; a
	// zero threshold is off.
	Block    Thresholds
	Decision Decision
	// CoolDown is how long every rate must stay below its warn threshold
	// before a warning clears.
	CoolDown time.Duration
	// ProbationPeriod is how long a reinstated account is watched strictly.
	ProbationPeriod time.Duration
	// Bucket is the granularity of every window.
	Bucket time.Duration
	// Windows are the rolling windows, shortest first.
	Windows []Window
	Escalation
	Bulk       BulkPolicy
	Quota      QuotaPolicy
	Reputation ReputationPolicy
}

// Escalation are the rules for warnings that go unanswered or repeat, and
// for accounts that keep getting reinstated. A zero count or duration
// turns its rule off.
type Escalation struct {
	// AckDeadline is how long a warning may go unacknowledged before it
	// suspends the account.
	AckDeadline time.Duration
	// RepeatedWarnings warnings within RepeatedWarningsWindow suspend the
	// account at the last one.
	RepeatedWarnings       int
	RepeatedWarningsWindow time.Duration
	// After RepeatReinstatements reinstatements within
	// RepeatReinstatementsWindow, a ticket needs RepeatApprovals different
	// admins to approve it instead of one.
	RepeatReinstatements       int
	RepeatReinstatementsWindow time.Duration
	RepeatApprovals            int
}

// DefaultPolicy returns the policy used when the configuration names none.
func DefaultPolicy() Policy {
	return Policy{
		HardBounce: Thresholds{Warn: 0.02, Suspend: 0.08},
		Complaint:  Thresholds{Warn: 0.001, Suspend: 0.003},
		Block:      Thresholds{Warn: 0.05},
		Escalation: Escalation{
			AckDeadline:                72 * time.Hour,
			RepeatedWarnings:           3,
			RepeatedWarningsWindow:     30 * 24 * time.Hour,
			RepeatReinstatements:       3,
			RepeatReinstatementsWindow: 365 * 24 * time.Hour,
			RepeatApprovals:            2,
		},
		Bulk:            DefaultBulkPolicy(),
		Quota:           DefaultQuotaPolicy(),
		Reputation:      DefaultReputationPolicy(),
		Decision:        DecisionMeasured,
		CoolDown:        24 * time.Hour,
		ProbationPeriod: 14 * 24 * time.Hour,
		Bucket:          time.Hour,
		Windows: []Window{
			{Name: "24h", Length: 24 * time.Hour, MinSends: 500},
			{Name: "7d", Length: 7 * 24 * time.Hour, MinSends: 1000},
		},
	}
}

// thresholds returns the thresholds of metric m.
func (p Policy) thresholds(m Metric) Thresholds {
	switch m {
	case MetricHardBounceRate:
		return p.HardBounce
	case MetricComplaintRate:
		return p.Complaint
	case MetricBlockRate:
		return p.Block
	}
	return Thresholds{}
}

// RingLen is the number of buckets that cover the longest window, and at
// least the day of the daily quota.
func (p Policy) RingLen() int {
	return int(max(p.Longest(), quotaDay) / p.Bucket)
}

// Spans are the window lengths in buckets, shortest first.
func (p Policy) Spans() []int {
	spans := make([]int, len(p.Windows))
	for i, w := range p.Windows {
		spans[i] = int(w.Length / p.Bucket)
	}
	return spans
}

// Longest is the length of the longest window.
func (p Policy) Longest() time.Duration { return p.Windows[len(p.Windows)-1].Length }

// Validate checks a global policy; field names are the configuration's.
func (p Policy) Validate() error {
	var errs FieldErrors
	errs = append(errs, checkThresholds("policy.hard_bounce_rate", p.HardBounce)...)
	errs = append(errs, checkThresholds("policy.complaint_rate", p.Complaint)...)
	errs = append(errs, checkOptionalThresholds("policy.block_rate", p.Block)...)
	if !p.Decision.Valid() {
		errs = append(errs, FieldError{"policy.decision", "must be measured or confident"})
	}
	if p.CoolDown < 0 {
		errs = append(errs, FieldError{"policy.cool_down", "must not be negative"})
	}
	if p.ProbationPeriod < 0 {
		errs = append(errs, FieldError{"policy.probation_period", "must not be negative"})
	}
	if p.Bucket < time.Minute {
		errs = append(errs, FieldError{"windows.bucket", "must be at least 1m"})
	}
	errs = append(errs, p.Escalation.validate()...)
	errs = append(errs, p.Bulk.Validate()...)
	errs = append(errs, p.Quota.Validate()...)
	if len(p.Windows) == 0 || len(p.Windows) > MaxWindows {
		errs = append(errs, FieldError{"windows", "between one and " + strconv.Itoa(MaxWindows) + " windows are required"})
	}
	names := map[string]bool{}
	for i, w := range p.Windows {
		field := "windows[" + strconv.Itoa(i) + "]"
		switch {
		case w.Name == "" || names[w.Name]:
			errs = append(errs, FieldError{field + ".name", "must be set and unique"})
		case p.Bucket > 0 && (w.Length < p.Bucket || w.Length%p.Bucket != 0):
			errs = append(errs, FieldError{field + ".length", "must be a positive multiple of the bucket " + p.Bucket.String()})
		case i > 0 && w.Length <= p.Windows[i-1].Length:
			errs = append(errs, FieldError{field + ".length", "windows must be listed shortest first"})
		}
		names[w.Name] = true
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func checkThresholds(field string, t Thresholds) FieldErrors {
	var errs FieldErrors
	if !(t.Warn > 0 && t.Warn <= 1) {
		errs = append(errs, FieldError{field + ".warn", "must be a fraction in (0, 1]"})
	}
	if !(t.Suspend > 0 && t.Suspend <= 1) {
		errs = append(errs, FieldError{field + ".suspend", "must be a fraction in (0, 1]"})
	}
	if len(errs) == 0 && t.Warn >= t.Suspend {
		errs = append(errs, FieldError{field + ".warn", "must be below the suspend threshold"})
	}
	return errs
}

func (e Escalation) validate() FieldErrors {
	var errs FieldErrors
	check := func(ok bool, field, reason string) {
		if !ok {
			errs = append(errs, FieldError{"escalation." + field, reason})
		}
	}
	check(e.AckDeadline >= 0, "ack_deadline", "must not be negative (0 turns the rule off)")
	check(e.RepeatedWarnings >= 0, "repeated_warnings", "must not be negative (0 turns the rule off)")
	check(e.RepeatedWarnings == 0 || e.RepeatedWarningsWindow > 0, "repeated_warnings_window", "must be positive")
	check(e.RepeatReinstatements >= 0, "repeat_reinstatements", "must not be negative (0 turns the rule off)")
	check(e.RepeatReinstatements == 0 || e.RepeatReinstatementsWindow > 0, "repeat_reinstatements_window", "must be positive")
	check(e.RepeatReinstatements == 0 || e.RepeatApprovals >= 1, "repeat_approvals", "must be at least 1")
	return errs
}

// checkOptionalThresholds is checkThresholds for a rate whose thresholds
// may each be zero, meaning off.
func checkOptionalThresholds(field string, t Thresholds) FieldErrors {
	var errs FieldErrors
	if !(t.Warn >= 0 && t.Warn <= 1) {
		errs = append(errs, FieldError{field + ".warn", "must be 0 (off) or a fraction in (0, 1]"})
	}
	if !(t.Suspend >= 0 && t.Suspend <= 1) {
		errs = append(errs, FieldError{field + ".suspend", "must be 0 (off) or a fraction in (0, 1]"})
	}
	if len(errs) == 0 && t.Warn > 0 && t.Suspend > 0 && t.Warn >= t.Suspend {
		errs = append(errs, FieldError{field + ".warn", "must be below the suspend threshold"})
	}
	return errs
}

// The bounds of an account's overrides. Values beyond them are mistakes
// (2^64-1 is what -1 becomes in a uint64), and some would quietly exempt
// the account from the policy.
const (
	// MaxMinSends bounds a window's minimum volume. The minimum keeps noise
	// from moving a phase; at 10 million sends the 95 % interval of even
	// the complaint rate's 0.1 % is a few thousandths of a percentage point
	// wide, so a higher minimum no longer filters noise: it only spares an
	// account that cannot reach it from ever being judged. The lower
	// bound is 1: a zero, which keeps the global value everywhere else in
	// the overrides, would here remove the minimum (small volumes are
	// judged fairly with the confident decision instead).
	MaxMinSends = 10_000_000
	// MaxCoolDown bounds how long a warning takes to clear once the rates
	// are clean: a month, the span in which repeated warnings suspend. A
	// warning that cannot clear for longer is a suspension in disguise,
	// and SuspendAccount says so honestly.
	MaxCoolDown = 30 * 24 * time.Hour
)

// CheckCoolDown returns why d is not an account's cool-down, or "".
func CheckCoolDown(d time.Duration) string {
	if d <= 0 || d > MaxCoolDown {
		return "must be positive and at most " + DurationLabel(MaxCoolDown)
	}
	return ""
}

// Overrides replace parts of the global policy for one account. Nil
// pointers, zero values and absent map entries keep the global value.
type Overrides struct {
	HardBounceWarn    *float64
	HardBounceSuspend *float64
	ComplaintWarn     *float64
	ComplaintSuspend  *float64
	// BlockWarn and BlockSuspend may be zero: off for this account.
	BlockWarn    *float64
	BlockSuspend *float64
	Decision     Decision
	CoolDown     time.Duration
	// MinSends by window name.
	MinSends map[string]uint64
}

// empty reports whether the overrides change nothing.
func (o *Overrides) empty() bool {
	return o.HardBounceWarn == nil && o.HardBounceSuspend == nil && o.ComplaintWarn == nil && o.ComplaintSuspend == nil &&
		o.BlockWarn == nil && o.BlockSuspend == nil && o.Decision == 0 && o.CoolDown == 0 && len(o.MinSends) == 0
}

// With returns p with the overrides applied. It does not modify p.
func (p Policy) With(o Overrides) Policy {
	set := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.HardBounce.Warn, o.HardBounceWarn)
	set(&p.HardBounce.Suspend, o.HardBounceSuspend)
	set(&p.Complaint.Warn, o.ComplaintWarn)
	set(&p.Complaint.Suspend, o.ComplaintSuspend)
	set(&p.Block.Warn, o.BlockWarn)
	set(&p.Block.Suspend, o.BlockSuspend)
	if o.Decision != 0 {
		p.Decision = o.Decision
	}
	if o.CoolDown != 0 {
		p.CoolDown = o.CoolDown
	}
	if len(o.MinSends) > 0 {
		windows := make([]Window, len(p.Windows))
		for i, w := range p.Windows {
			if v, ok := o.MinSends[w.Name]; ok {
				w.MinSends = v
			}
			windows[i] = w
		}
		p.Windows = windows
	}
	return p
}

// Validate checks that the overrides make a valid policy on top of global;
// field names are the wire names of UpdateAccount.
func (o Overrides) Validate(global Policy) error {
	var errs FieldErrors
	fraction := func(field string, v *float64) {
		if v != nil && !(*v > 0 && *v <= 1) {
			errs = append(errs, FieldError{"policy_overrides." + field, "must be a fraction in (0, 1]"})
		}
	}
	fraction("hard_bounce_warn", o.HardBounceWarn)
	fraction("hard_bounce_suspend", o.HardBounceSuspend)
	fraction("complaint_warn", o.ComplaintWarn)
	fraction("complaint_suspend", o.ComplaintSuspend)
	optional := func(field string, v *float64) {
		if v != nil && !(*v >= 0 && *v <= 1) {
			errs = append(errs, FieldError{"policy_overrides." + field, "must be 0 (off) or a fraction in (0, 1]"})
		}
	}
	optional("block_warn", o.BlockWarn)
	optional("block_suspend", o.BlockSuspend)
	if o.Decision != 0 && !o.Decision.Valid() {
		errs = append(errs, FieldError{"policy_overrides.decision", "must be DECISION_MEASURED or DECISION_CONFIDENT"})
	}
	if o.CoolDown != 0 {
		if reason := CheckCoolDown(o.CoolDown); reason != "" {
			errs = append(errs, FieldError{"policy_overrides.cool_down", reason})
		}
	}
	// Sorted, so that the same request always gets the same answer.
	for _, name := range slices.Sorted(maps.Keys(o.MinSends)) {
		switch v := o.MinSends[name]; {
		case !global.hasWindow(name):
			errs = append(errs, FieldError{"policy_overrides.min_sends", "names no window: " + strconv.Quote(name) + "; " + global.windowNames()})
		case v < 1 || v > MaxMinSends:
			errs = append(errs, FieldError{"policy_overrides.min_sends", strconv.Quote(name) + " must be from 1 to " + strconv.Itoa(MaxMinSends) + " sends"})
		}
	}
	if len(errs) == 0 {
		merged := global.With(o)
		if merged.HardBounce.Warn >= merged.HardBounce.Suspend {
			errs = append(errs, FieldError{"policy_overrides.hard_bounce_warn", "must be below the hard-bounce suspend threshold"})
		}
		if merged.Complaint.Warn >= merged.Complaint.Suspend {
			errs = append(errs, FieldError{"policy_overrides.complaint_warn", "must be below the complaint suspend threshold"})
		}
		if b := merged.Block; b.Warn > 0 && b.Suspend > 0 && b.Warn >= b.Suspend {
			errs = append(errs, FieldError{"policy_overrides.block_warn", "must be below the block suspend threshold"})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// windowNames says what the windows are called: by their length, as
// GetAccount, findings and min_sends name them.
func (p Policy) windowNames() string {
	names := make([]string, len(p.Windows))
	for i, w := range p.Windows {
		names[i] = strconv.Quote(w.Name)
	}
	if len(names) == 1 {
		return "the only window is " + names[0]
	}
	return "the windows are " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func (p Policy) hasWindow(name string) bool {
	for _, w := range p.Windows {
		if w.Name == name {
			return true
		}
	}
	return false
}
