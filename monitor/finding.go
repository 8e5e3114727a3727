package monitor

import (
	"fmt"
	"time"
)

// Metric names a measured rate.
type Metric uint8

// The metrics; the numbers match the wire enum.
const (
	MetricHardBounceRate Metric = 1
	MetricComplaintRate  Metric = 2
	MetricBlockRate      Metric = 3
)

func (m Metric) String() string {
	switch m {
	case MetricHardBounceRate:
		return "hard-bounce rate"
	case MetricComplaintRate:
		return "complaint rate"
	case MetricBlockRate:
		return "block rate"
	}
	return "unknown metric"
}

// Severity is how serious a finding is.
type Severity uint8

// The severities; the numbers match the wire enum.
const (
	SeverityWarning  Severity = 1
	SeverityCritical Severity = 2
)

// WindowStats are an account's counts and rates over one window.
type WindowStats struct {
	Window      Window
	Sends       uint64
	HardBounces uint64
	Complaints  uint64
	Blocks      uint64
	// The rates are set by Account.Status; judging reads only the counts.
	HardBounceRate Rate
	ComplaintRate  Rate
	BlockRate      Rate
	// BelowMinVolume is true when the window has too few sends to judge.
	BelowMinVolume bool
}

// Finding is one threshold breach, with what the account should do.
type Finding struct {
	Metric          Metric
	Window          string
	Rate            Rate
	Threshold       float64
	Severity        Severity
	Decision        Decision
	Sends           uint64
	Message         string
	Recommendations []string
}

// Recommendations per metric: concrete steps that bring the rate down.
var (
	hardBounceAdvice = []string{
		"Remove every address that hard-bounced from your lists and never mail it again.",
		"Stop mailing lists of unknown origin (bought, rented, scraped or years old); send only to addresses collected by you with consent.",
		"Use confirmed (double) opt-in so mistyped and fake addresses never enter the list.",
		"Validate addresses at sign-up and re-confirm recipients who have not engaged in the last 6-12 months before mailing them again.",
	}
	complaintAdvice = []string{
		"Send only to recipients who asked for your mail; use confirmed (double) opt-in.",
		"Make unsubscribing easy: a visible link in every message and one-click List-Unsubscribe headers (RFC 8058); honour requests at once.",
		"Suppress every recipient who complained; never mail them again.",
		"Make the sender and purpose recognisable, keep to the frequency promised at sign-up, and stop mailing recipients who no longer engage.",
	}
	blockAdvice = []string{
		"Read the refusals in the bounce details: they name the blocklist, filter or authentication check that refused you.",
		"Check your sending IPs and domains on the blocklists named (Spamhaus, Barracuda, SpamCop...) and follow their delisting procedure once the cause is fixed.",
		"Authenticate every message: SPF and DKIM aligned with the From domain, and a published DMARC policy.",
		"Slow down at the providers that refuse you and send only to recently engaged recipients until their acceptance recovers.",
	}
)

// evaluate compares each window with the policy and returns the breaches,
// at most one (the most severe) per window and metric. Windows below their
// minimum volume produce none.
func evaluate(stats []WindowStats, p *Policy) []Finding {
	var findings []Finding
	for _, s := range stats {
		if s.BelowMinVolume {
			continue
		}
		if f, ok := judge(MetricHardBounceRate, s, s.HardBounces, p.HardBounce, p.Decision); ok {
			findings = append(findings, f)
		}
		if f, ok := judge(MetricComplaintRate, s, s.Complaints, p.Complaint, p.Decision); ok {
			findings = append(findings, f)
		}
		if f, ok := judge(MetricBlockRate, s, s.Blocks, p.Block, p.Decision); ok {
			findings = append(findings, f)
		}
	}
	return findings
}

// judge compares the rate of k events in the window's sends with its
// thresholds; a zero threshold is off. It runs after every batch for every
// account touched, so the interval (a square root) is computed only when a
// decision or a finding needs it, and not at all for the usual k = 0.
func judge(m Metric, s WindowStats, k uint64, t Thresholds, d Decision) (Finding, bool) {
	if k == 0 || s.Sends == 0 {
		return Finding{}, false
	}
	measured := float64(min(k, s.Sends)) / float64(s.Sends)
	if d == DecisionConfident {
		measured = NewRate(k, s.Sends).Lower
	}
	var f Finding
	switch {
	case t.Suspend > 0 && measured >= t.Suspend:
		f = Finding{Severity: SeverityCritical, Threshold: t.Suspend}
	case t.Warn > 0 && measured >= t.Warn:
		f = Finding{Severity: SeverityWarning, Threshold: t.Warn}
	default:
		return Finding{}, false
	}
	f.Metric, f.Window, f.Rate, f.Decision, f.Sends = m, s.Window.Name, NewRate(k, s.Sends), d, s.Sends
	switch m {
	case MetricHardBounceRate:
		f.Recommendations = hardBounceAdvice
	case MetricComplaintRate:
		f.Recommendations = complaintAdvice
	case MetricBlockRate:
		f.Recommendations = blockAdvice
	}
	return f, true
}

// explain writes each finding's message. It is left out of evaluate because
// judging happens after every batch and most judgements are not shown.
func explain(findings []Finding) {
	for i := range findings {
		findings[i].Message = findingMessage(findings[i])
	}
}

func findingMessage(f Finding) string {
	level := "warn"
	if f.Severity == SeverityCritical {
		level = "suspend"
	}
	what := fmt.Sprintf("Your %s over the last %s is %s of %d sends", f.Metric, f.Window, percent(f.Rate.Value), f.Sends)
	if f.Decision == DecisionConfident {
		return fmt.Sprintf("%s; even the low end of its 95%% confidence interval, %s, is at or above the %s threshold of %s.",
			what, percent(f.Rate.Lower), level, percent(f.Threshold))
	}
	return fmt.Sprintf("%s, at or above the %s threshold of %s.", what, level, percent(f.Threshold))
}

// percent formats a fraction for people: 0.0213 is "2.13%".
func percent(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.01:
		return fmt.Sprintf("%.3f%%", f*100)
	}
	return fmt.Sprintf("%.2f%%", f*100)
}

// worst returns the highest severity among findings, or 0 when none.
func worst(findings []Finding) Severity {
	var s Severity
	for _, f := range findings {
		s = max(s, f.Severity)
	}
	return s
}

// measure sums the ring for every window of p at now. The rates are left
// to withRates: judging needs only the counts.
func measure(r *Ring, now time.Time, p *Policy) []WindowStats {
	return measureInto(make([]WindowStats, len(p.Windows)), r, now, p)
}

// measureInto is measure into stats, which has room for every window: Step
// measures every account after every batch, and into an array on its
// stack that allocates nothing.
func measureInto(stats []WindowStats, r *Ring, now time.Time, p *Policy) []WindowStats {
	stats = stats[:len(p.Windows)]
	nowBucket := bucketOf(now, p.Bucket)
	for i, w := range p.Windows {
		c := r.Sum(nowBucket, int(w.Length/p.Bucket))
		s := WindowStats{
			Window:      w,
			Sends:       c.Sends,
			HardBounces: c.HardBounces,
			Complaints:  c.Complaints,
			Blocks:      c.Blocks,
		}
		s.BelowMinVolume = s.Sends < w.MinSends
		stats[i] = s
	}
	return stats
}

// withRates computes the rates of every window, for showing.
func withRates(stats []WindowStats) {
	for i := range stats {
		s := &stats[i]
		s.HardBounceRate = NewRate(s.HardBounces, s.Sends)
		s.ComplaintRate = NewRate(s.Complaints, s.Sends)
		s.BlockRate = NewRate(s.Blocks, s.Sends)
	}
}
