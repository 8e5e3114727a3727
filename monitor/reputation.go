package monitor

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// ReputationPolicy shapes the reputation score and the provider breakdown.
type ReputationPolicy struct {
	// Days is the window the score is measured over, in whole days.
	Days int
	// AlertBelow is the score under which the account's admins and the
	// operators are alerted; 0 turns the alert off.
	AlertBelow int
	// AlertMinSends is the volume in the window below which a low score
	// does not alert: a handful of sends with one complaint says little.
	AlertMinSends uint64
	// Engagement says the platform reports opens and clicks, so that
	// engagement counts for every account. It is the platform's setting,
	// not each account's: an account must not gain by reporting no opens.
	Engagement bool
	// Providers group recipient domains by mailbox provider; any other
	// domain is "other". Set them with SetProviders.
	Providers []Provider
	index     map[string]uint8
}

// Provider is a mailbox provider and the recipient domains it serves.
type Provider struct {
	Name    string
	Domains []string
}

// OtherProvider names the domains of no listed provider.
const OtherProvider = "other"

// maxProviders bounds the providers: each costs 16 bytes per account and
// day, kept in the account itself for today.
const maxProviders = 7

// alertHysteresis is how far above the alert level a score must climb
// before a new fall alerts again, so that a score near it does not flap.
const alertHysteresis = 5

// DefaultProviders are the large mailbox providers that judge senders on
// their own terms.
func DefaultProviders() []Provider {
	return []Provider{
		{Name: "gmail", Domains: []string{"gmail.com", "googlemail.com"}},
		{Name: "microsoft", Domains: []string{"outlook.com", "hotmail.com", "live.com", "msn.com", "hotmail.co.uk", "hotmail.fr",
			"hotmail.de", "hotmail.it", "hotmail.es", "outlook.de", "outlook.fr", "live.co.uk", "live.fr", "live.de"}},
		{Name: "yahoo", Domains: []string{"yahoo.com", "ymail.com", "rocketmail.com", "aol.com", "aim.com", "yahoo.co.uk",
			"yahoo.fr", "yahoo.de", "yahoo.es", "yahoo.it", "yahoo.ca", "yahoo.com.br", "yahoo.co.in", "yahoo.co.jp"}},
		{Name: "apple", Domains: []string{"icloud.com", "me.com", "mac.com"}},
	}
}

// DefaultReputationPolicy returns the rules used when the configuration
// names none.
func DefaultReputationPolicy() ReputationPolicy {
	p := ReputationPolicy{Days: 7, AlertBelow: 50, AlertMinSends: 500}
	p.SetProviders(DefaultProviders())
	return p
}

// SetProviders replaces the providers and indexes their domains.
func (p *ReputationPolicy) SetProviders(ps []Provider) {
	p.Providers = ps
	p.index = make(map[string]uint8)
	for i, pr := range ps {
		for _, d := range pr.Domains {
			if _, dup := p.index[d]; !dup && i < maxProviders {
				p.index[d] = uint8(i)
			}
		}
	}
}

// providerOf returns the index of the provider of a recipient's domain:
// len(Providers) for "other".
func (p *ReputationPolicy) providerOf(recipient string) int {
	if recipient == "" {
		return len(p.Providers)
	}
	if i, ok := p.index[AddressDomain(recipient)]; ok {
		return int(i)
	}
	return len(p.Providers)
}

// Validate checks the rules; field names are the configuration's.
func (p ReputationPolicy) Validate(dedupeHorizon time.Duration) FieldErrors {
	var errs FieldErrors
	if p.Days < 1 || time.Duration(p.Days)*24*time.Hour > dedupeHorizon {
		errs = append(errs, FieldError{"reputation.days", "must be at least 1 and within the dedupe horizon of " + DurationLabel(dedupeHorizon) +
			", which the log is replayed from"})
	}
	if p.AlertBelow < 0 || p.AlertBelow > 100 {
		errs = append(errs, FieldError{"reputation.alert_below", "must be between 0 (off) and 100"})
	}
	if len(p.Providers) > maxProviders {
		errs = append(errs, FieldError{"reputation.providers", "at most " + strconv.Itoa(maxProviders) + " providers"})
	}
	seen := map[string]bool{OtherProvider: true}
	for i, pr := range p.Providers {
		field := "reputation.providers[" + strconv.Itoa(i) + "]"
		if pr.Name == "" || seen[pr.Name] {
			errs = append(errs, FieldError{field + ".name", "must be set, unique and not \"other\""})
		}
		seen[pr.Name] = true
		for _, d := range pr.Domains {
			if !isHostName(d) || hasUpper(d) {
				errs = append(errs, FieldError{field + ".domains", "must be lower-case domain names, got " + strconv.Quote(d)})
			}
		}
	}
	return errs
}

// Signals are the events that count toward the score besides the rates.
type Signals struct {
	Unsubscribes uint32
	TrapHits     uint32
	Listings     uint32
	Opens        uint32
	Clicks       uint32
	AuthFailures uint32
}

// observeReputation counts e at t in the account's reputation days.
func (a *Account) observeReputation(e *Event, c Counts, t time.Time, p *ReputationPolicy) {
	d := t.UnixNano() / int64(oneDay)
	if cells := a.rep.current(d, p.Days); cells != nil {
		addCells(cells, e, c, p)
		return
	}
	if a.rep.inPast(d, p.Days) {
		// A late event of an earlier day: rare, so it may cost a copy.
		var delta [dayCells]uint32
		addCells(&delta, e, c, p)
		a.rep.addPast(d, &delta)
	}
}

// addCells adds event e, which counts c, to a day's cells.
func addCells(cells *[dayCells]uint32, e *Event, c Counts, p *ReputationPolicy) {
	if c != (Counts{}) {
		k := countCells * p.providerOf(e.Recipient)
		cells[k] += c.Sends
		cells[k+1] += c.HardBounces
		cells[k+2] += c.Complaints
		cells[k+3] += c.Blocks
	}
	switch e.Type {
	case EventUnsubscribe:
		cells[cellUnsubscribes]++
	case EventSpamTrapHit:
		cells[cellTrapHits]++
	case EventBlocklistListing:
		cells[cellListings]++
	case EventOpen:
		cells[cellOpens]++
	case EventClick:
		cells[cellClicks]++
	case EventAuthFailure:
		cells[cellAuthFailures]++
	}
}

// reputationTotals sums the days of the window that ends with now, and
// per provider into byProvider when it is not nil (len(Providers)+1).
func (a *Account) reputationTotals(now time.Time, days int, byProvider []Totals) (Totals, Signals) {
	var all Totals
	var sig Signals
	a.rep.each(now.UnixNano()/int64(oneDay), days, func(cell int, v uint32) {
		if cell < signalBase {
			var c Counts
			switch cell % countCells {
			case 0:
				c.Sends = v
			case 1:
				c.HardBounces = v
			case 2:
				c.Complaints = v
			case 3:
				c.Blocks = v
			}
			all.add(c)
			if i := cell / countCells; i < len(byProvider) {
				byProvider[i].add(c)
			}
			return
		}
		switch cell {
		case cellUnsubscribes:
			sig.Unsubscribes += v
		case cellTrapHits:
			sig.TrapHits += v
		case cellListings:
			sig.Listings += v
		case cellOpens:
			sig.Opens += v
		case cellClicks:
			sig.Clicks += v
		case cellAuthFailures:
			sig.AuthFailures += v
		}
	})
	return all, sig
}

// ReputationFactor is one part of the score; the numbers match the wire enum.
type ReputationFactor uint8

// The factors.
const (
	FactorHardBounceRate    ReputationFactor = 1
	FactorComplaintRate     ReputationFactor = 2
	FactorBlockRate         ReputationFactor = 3
	FactorSpamTrapHits      ReputationFactor = 4
	FactorBlocklistListings ReputationFactor = 5
	FactorUnsubscribeRate   ReputationFactor = 6
	FactorEngagement        ReputationFactor = 7
)

// scoreWeights are the factors' weights, which sum to 100, and the measure
// at which a factor takes its whole weight off the score. The heaviest are
// what the providers' own guidance puts first: complaints (Gmail and Yahoo
// require under 0.3 %) and hard bounces (the sign of a bought or stale
// list). Blocks show the receivers already distrust the sender. A trap hit
// or a listing is rare and severe, so a few take the whole weight.
// Unsubscribes and engagement are softer signals: a list that people leave
// or ignore is on its way to complaints.
var scoreWeights = [...]struct {
	factor ReputationFactor
	weight float64
	full   float64
}{
	{FactorHardBounceRate, 25, 0.08},
	{FactorComplaintRate, 30, 0.003},
	{FactorBlockRate, 15, 0.10},
	{FactorSpamTrapHits, 10, 3},
	{FactorBlocklistListings, 10, 2},
	{FactorUnsubscribeRate, 5, 0.02},
	{FactorEngagement, 5, 0.10},
}

// Component is one factor of a score.
type Component struct {
	Factor ReputationFactor
	// Value is a fraction for rates, a count for hits and listings.
	Value   float64
	Weight  float64
	Penalty float64
	// Reported is false when the factor is not counted (engagement, unless
	// the platform reports opens and clicks); it then takes nothing off.
	Reported    bool
	Explanation string
}

// Reputation is an account's score and what it is made of.
type Reputation struct {
	Score      int
	Components []Component
	Days       int
	AlertBelow int
	// AuthFailures are the authentication failure reports of the window:
	// no part of the score, which measures what recipients do, but the
	// sign of a sending setup to fix.
	AuthFailures uint32
	// Providers are the counts by mailbox provider, in the policy's order
	// and "other" last.
	Providers []ProviderTotals
}

// ProviderTotals are an account's counts at one provider.
type ProviderTotals struct {
	Name string
	Totals
}

// ratio is k of n as a fraction of at most 1; k events with fewer sends
// than k (the sends left the window first) count as all.
func ratio(k, n uint64) float64 {
	switch {
	case k == 0:
		return 0
	case n <= k:
		return 1
	}
	return float64(k) / float64(n)
}

// Score computes the 0-100 score from the counts of the window: 100 less
// each factor's penalty, which grows linearly from nothing to its weight
// at its full measure (see scoreWeights). Engagement counts only when the
// platform reports opens and clicks (engagement); its penalty shrinks as
// they reach 10 % of sends. Every penalty grows with its bad events, so
// more of them never raise the score, and more opens never lower it.
func Score(t Totals, s Signals, engagement bool) (int, []Component) {
	score, comps := penalties(t, s, engagement)
	for i := range comps {
		comps[i].Explanation = explainComponent(comps[i], t, s)
	}
	return score, comps[:]
}

// penalties computes the score and its components without their words:
// the sweep scores every account every minute, and shows none of them.
func penalties(t Totals, s Signals, engagement bool) (int, [len(scoreWeights)]Component) {
	var comps [len(scoreWeights)]Component
	total := 0.0
	for i, w := range scoreWeights {
		c := Component{Factor: w.factor, Weight: w.weight, Reported: true}
		switch w.factor {
		case FactorHardBounceRate:
			c.Value = ratio(t.HardBounces, t.Sends)
		case FactorComplaintRate:
			c.Value = ratio(t.Complaints, t.Sends)
		case FactorBlockRate:
			c.Value = ratio(t.Blocks, t.Sends)
		case FactorSpamTrapHits:
			c.Value = float64(s.TrapHits)
		case FactorBlocklistListings:
			c.Value = float64(s.Listings)
		case FactorUnsubscribeRate:
			c.Value = ratio(uint64(s.Unsubscribes), t.Sends)
		case FactorEngagement:
			c.Reported = engagement && t.Sends > 0
			c.Value = ratio(uint64(s.Opens)+uint64(s.Clicks), t.Sends)
		}
		switch {
		case !c.Reported:
		case w.factor == FactorEngagement:
			c.Penalty = w.weight * (1 - min(1, c.Value/w.full))
		default:
			c.Penalty = w.weight * min(1, c.Value/w.full)
		}
		total += c.Penalty
		comps[i] = c
	}
	return max(0, min(100, int(math.Round(100-total)))), comps
}

// explainComponent says what a component's figure means.
func explainComponent(c Component, t Totals, s Signals) string {
	var full float64
	for _, w := range scoreWeights {
		if w.factor == c.Factor {
			full = w.full
		}
	}
	switch c.Factor {
	case FactorHardBounceRate:
		return fmt.Sprintf("%s of %d sends hard-bounced; the whole weight at %s.", percent(c.Value), t.Sends, percent(full))
	case FactorComplaintRate:
		return fmt.Sprintf("%s of sends drew a spam complaint; the whole weight at %s.", percent(c.Value), percent(full))
	case FactorBlockRate:
		return fmt.Sprintf("%s of sends were refused for the sender (blocklists, filters); the whole weight at %s.", percent(c.Value), percent(full))
	case FactorSpamTrapHits:
		return fmt.Sprintf("%d spam-trap hits; the whole weight at %g.", s.TrapHits, full)
	case FactorBlocklistListings:
		return fmt.Sprintf("%d blocklist listings; the whole weight at %g.", s.Listings, full)
	case FactorUnsubscribeRate:
		return fmt.Sprintf("%s of sends led to an unsubscribe; the whole weight at %s.", percent(c.Value), percent(full))
	case FactorEngagement:
		if !c.Reported {
			return "Engagement is not counted: the platform does not report opens and clicks, or nothing was sent."
		}
		return fmt.Sprintf("Opens and clicks are %s of sends; nothing off at %s or more.", percent(c.Value), percent(full))
	}
	return ""
}

// Reputation measures the account's score at now, with the breakdown by
// provider.
func (a *Account) Reputation(now time.Time, p Policy) Reputation {
	byProvider := make([]Totals, len(p.Reputation.Providers)+1)
	all, sig := a.reputationTotals(now, p.Reputation.Days, byProvider)
	r := Reputation{Days: p.Reputation.Days, AlertBelow: p.Reputation.AlertBelow, AuthFailures: sig.AuthFailures}
	r.Score, r.Components = Score(all, sig, p.Reputation.Engagement)
	for i, t := range byProvider {
		name := OtherProvider
		if i < len(p.Reputation.Providers) {
			name = p.Reputation.Providers[i].Name
		}
		r.Providers = append(r.Providers, ProviderTotals{Name: name, Totals: t})
	}
	return r
}

// ReputationScore is the score alone, computed without allocating.
func (a *Account) ReputationScore(now time.Time, p *Policy) int {
	all, sig := a.reputationTotals(now, p.Reputation.Days, nil)
	score, _ := penalties(all, sig, p.Reputation.Engagement)
	return score
}

// ReputationAlert is a crossing of the alert level.
type ReputationAlert struct {
	Low     bool // fell below; false: recovered
	Score   int
	Message string
}

// JudgeReputation compares the score at now with the alert level and
// returns the crossing, if any: a fall below it (with at least
// AlertMinSends sends in the window), or a recovery to alertHysteresis
// points above it. With the alert off, a low mark is cleared silently.
func (a *Account) JudgeReputation(now time.Time, p Policy) (ReputationAlert, bool) {
	level := p.Reputation.AlertBelow
	if level <= 0 {
		if a.ReputationLow {
			a.ReputationLow = false
		}
		return ReputationAlert{}, false
	}
	all, sig := a.reputationTotals(now, p.Reputation.Days, nil)
	score, _ := penalties(all, sig, p.Reputation.Engagement)
	switch {
	case !a.ReputationLow && score < level && all.Sends >= p.Reputation.AlertMinSends:
		r := a.Reputation(now, p)
		a.ReputationLow = true
		return ReputationAlert{Low: true, Score: r.Score, Message: fmt.Sprintf(
			"The reputation score of %s fell to %d, below the alert level of %d. %s", a.ID, r.Score, level, worstFactors(r.Components))}, true
	case a.ReputationLow && score >= level+alertHysteresis:
		a.ReputationLow = false
		return ReputationAlert{Score: score, Message: fmt.Sprintf(
			"The reputation score of %s recovered to %d, above the alert level of %d.", a.ID, score, level)}, true
	}
	return ReputationAlert{}, false
}

// worstFactors names the factors that take the most off, for an alert.
func worstFactors(comps []Component) string {
	sorted := slices.Clone(comps)
	slices.SortStableFunc(sorted, func(x, y Component) int { return int(math.Round(y.Penalty*100 - x.Penalty*100)) })
	msg := "It loses most on:"
	n := 0
	for _, c := range sorted {
		if c.Penalty < 0.5 || n == 2 {
			break
		}
		msg += " " + c.Explanation
		n++
	}
	if n == 0 {
		return ""
	}
	return msg
}
