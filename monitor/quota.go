package monitor

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Quota are an account's sending limits, set by an admin; zero is none.
type Quota struct {
	PerDay    uint64
	PerSecond uint32
}

// The bounds of the quotas an admin sets; zero is no limit. A quota above
// them limits nothing, so it is a mistake (2^64-1 is what -1 becomes),
// and zero says "no limit" plainly.
const (
	// MaxSendsPerDay is more than the largest sending platforms deliver in
	// a day for all their customers together.
	MaxSendsPerDay uint64 = 10_000_000_000
	// MaxSendsPerSecond is several times the peak of a large campaign;
	// a whole day at that pace, 8.64 billion sends, stays within
	// MaxSendsPerDay.
	MaxSendsPerSecond uint32 = 100_000
)

// Validate checks quotas an admin sets; field names are the wire names of
// UpdateAccount.
func (q Quota) Validate() FieldErrors {
	var errs FieldErrors
	if q.PerDay > MaxSendsPerDay {
		errs = append(errs, FieldError{"max_sends_per_day", "must be 0 (no limit) or from 1 to " + strconv.FormatUint(MaxSendsPerDay, 10)})
	}
	if q.PerSecond > MaxSendsPerSecond {
		errs = append(errs, FieldError{"max_sends_per_second", "must be 0 (no limit) or from 1 to " + strconv.FormatUint(uint64(MaxSendsPerSecond), 10)})
	}
	return errs
}

// QuotaPolicy says how the phase changes an account's quota.
type QuotaPolicy struct {
	// ReducedFactor multiplies the quota of a warned or probation account;
	// 1 keeps it whole.
	ReducedFactor float64
}

// DefaultQuotaPolicy halves the quota of a warned or probation account: it
// has shown it can hurt the platform's reputation, so it may do so at
// half the pace while it shows it has changed.
func DefaultQuotaPolicy() QuotaPolicy { return QuotaPolicy{ReducedFactor: 0.5} }

// Validate checks the rule; field names are the configuration's.
func (p QuotaPolicy) Validate() FieldErrors {
	if !(p.ReducedFactor > 0 && p.ReducedFactor <= 1) {
		return FieldErrors{{"quota.reduced_factor", "must be a fraction in (0, 1]"}}
	}
	return nil
}

// quotaDay is the rolling span of the daily quota.
const quotaDay = 24 * time.Hour

// QuotaStatus is an account's quota and its use at one instant.
type QuotaStatus struct {
	Set       Quota
	Effective Quota
	// Reduced is true when the phase lowered the quota.
	Reduced     bool
	SendsDay    uint64
	SendsSecond uint32
	// ResumesAt is set while a quota is used up: when sending may resume.
	ResumesAt time.Time
	// Reason says which quota is used up, in words.
	Reason string
}

// Exhausted reports whether a quota is used up.
func (q QuotaStatus) Exhausted() bool { return !q.ResumesAt.IsZero() }

// countSecond counts a send at t toward the per-second quota.
func (a *Account) countSecond(t time.Time) {
	sec := t.Unix()
	switch {
	case sec > a.second:
		a.second, a.secondSends = sec, 1
	case sec == a.second:
		a.secondSends++
	}
}

// QuotaStatus measures the account's quota at now. The daily count is the
// sends in the last 24 hours of buckets; the rate is the sends within the
// current second.
func (a *Account) QuotaStatus(now time.Time, p Policy) QuotaStatus {
	q := QuotaStatus{Set: a.Quota, Effective: a.Quota}
	if a.Quota == (Quota{}) {
		return q
	}
	if f := p.Quota.ReducedFactor; f < 1 && (a.State.Phase == PhaseWarning || a.State.Phase == PhaseProbation) {
		q.Reduced = true
		q.Effective = Quota{PerDay: reduce(a.Quota.PerDay, f), PerSecond: uint32(reduce(uint64(a.Quota.PerSecond), f))}
	}
	nowBucket := bucketOf(now, p.Bucket)
	span := int(quotaDay / p.Bucket)
	q.SendsDay = a.ring.Sum(nowBucket, span).Sends
	if now.Unix() == a.second {
		q.SendsSecond = a.secondSends
	}
	if limit := q.Effective.PerDay; limit > 0 && q.SendsDay >= limit {
		resume := a.ring.sendsBelow(nowBucket, span, limit)
		q.ResumesAt = time.Unix(0, resume*int64(p.Bucket)).UTC()
		q.Reason = fmt.Sprintf("The account sent %d messages in the last 24 hours; its quota is %d%s. Sending may resume at %s.",
			q.SendsDay, limit, reducedNote(q), q.ResumesAt.Format(time.RFC3339))
	}
	if limit := q.Effective.PerSecond; limit > 0 && q.SendsSecond >= limit && q.ResumesAt.IsZero() {
		q.ResumesAt = time.Unix(now.Unix()+1, 0).UTC()
		q.Reason = fmt.Sprintf("The account sent %d messages this second; its quota is %d per second%s.", q.SendsSecond, limit, reducedNote(q))
	}
	return q
}

func reducedNote(q QuotaStatus) string {
	if !q.Reduced {
		return ""
	}
	return " (reduced while the account is warned or on probation)"
}

// reduce scales a quota down, to at least 1 so that it stays a quota.
func reduce(v uint64, f float64) uint64 {
	if v == 0 {
		return 0
	}
	return max(1, uint64(math.Floor(float64(v)*f)))
}
