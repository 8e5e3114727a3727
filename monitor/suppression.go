package monitor

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// RecipientStatus says whether an account may mail an address.
type RecipientStatus uint8

// The statuses; the numbers match the wire enum.
const (
	RecipientActive     RecipientStatus = 1
	RecipientBlocked    RecipientStatus = 2 // temporarily, after soft bounces
	RecipientSuppressed RecipientStatus = 3 // for good
)

// String names the status as people say it.
func (s RecipientStatus) String() string {
	switch s {
	case RecipientActive:
		return "active"
	case RecipientBlocked:
		return "temporarily blocked"
	case RecipientSuppressed:
		return "suppressed"
	}
	return "unknown"
}

// SuppressionReason says why an address is blocked or suppressed.
type SuppressionReason uint8

// The reasons; the numbers match the wire enum.
const (
	SuppressedHardBounce          SuppressionReason = 1
	SuppressedSoftBounce          SuppressionReason = 2
	SuppressedRepeatedSoftBounces SuppressionReason = 3
	SuppressedComplaint           SuppressionReason = 4
	SuppressedUnsubscribed        SuppressionReason = 5
	SuppressedManual              SuppressionReason = 6
	SuppressedSpamTrap            SuppressionReason = 7
)

// String names the reason as people say it.
func (r SuppressionReason) String() string {
	switch r {
	case SuppressedHardBounce:
		return "hard bounce"
	case SuppressedSoftBounce:
		return "soft bounce"
	case SuppressedRepeatedSoftBounces:
		return "repeated soft bounces"
	case SuppressedComplaint:
		return "complaint"
	case SuppressedUnsubscribed:
		return "unsubscribed"
	case SuppressedManual:
		return "manual"
	case SuppressedSpamTrap:
		return "spam trap"
	}
	return "none"
}

// rank orders the reasons of a suppression: a stronger one replaces a
// weaker one, because it says more about whether the address may ever be
// mailed again (a complaint outweighs a bounce).
func (r SuppressionReason) rank() int {
	switch r {
	case SuppressedRepeatedSoftBounces:
		return 1
	case SuppressedHardBounce:
		return 2
	case SuppressedManual:
		return 3
	case SuppressedUnsubscribed:
		return 4
	case SuppressedComplaint:
		return 5
	case SuppressedSpamTrap:
		return 6
	}
	return 0
}

// ChangeKind is what changed a recipient's record.
type ChangeKind uint8

// The kinds; the numbers match the wire enum.
const (
	ChangeHardBounce   ChangeKind = 1
	ChangeSoftBounce   ChangeKind = 2
	ChangeDelivery     ChangeKind = 3
	ChangeComplaint    ChangeKind = 4
	ChangeUnsubscribe  ChangeKind = 5
	ChangeManualAdd    ChangeKind = 6
	ChangeManualDelete ChangeKind = 7
	ChangeSpamTrapHit  ChangeKind = 8
)

// SuppressionPolicy are the rules that turn bounces, complaints and
// unsubscribes into per-recipient blocks.
type SuppressionPolicy struct {
	// ProviderDomains are the large mailbox providers' domains, in lower
	// case. Their bounces are reliable, so one hard bounce there suppresses.
	ProviderDomains []string
	// HardBounces within HardBounceWindow suppress an address elsewhere:
	// small servers misreport more often.
	HardBounces      int
	HardBounceWindow time.Duration
	// A soft bounce blocks the address for FirstBlock, each further block
	// in a row for BlockGrowth times longer up to MaxBlock; the
	// PermanentAfter-th block in a row suppresses it.
	FirstBlock     time.Duration
	BlockGrowth    float64
	MaxBlock       time.Duration
	PermanentAfter int
	// HistoryLimit, when positive, is how many changes are kept per
	// recipient, the newest; 0 keeps every change.
	HistoryLimit int
}

// DefaultProviderDomains are the domains of the large mailbox providers.
func DefaultProviderDomains() []string {
	return []string{
		"gmail.com", "googlemail.com",
		"yahoo.com", "ymail.com", "rocketmail.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.es", "yahoo.it",
		"yahoo.ca", "yahoo.com.br", "yahoo.co.in", "yahoo.co.jp",
		"hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it", "hotmail.es",
		"outlook.com", "outlook.de", "outlook.fr", "live.com", "live.co.uk", "live.fr", "live.de", "msn.com",
		"aol.com", "aim.com",
		"gmx.de", "gmx.net", "gmx.com", "gmx.at", "gmx.ch", "web.de",
		"icloud.com", "me.com", "mac.com",
	}
}

// DefaultSuppressionPolicy returns the rules used when the configuration
// names none.
func DefaultSuppressionPolicy() SuppressionPolicy {
	return SuppressionPolicy{
		ProviderDomains:  DefaultProviderDomains(),
		HardBounces:      2,
		HardBounceWindow: 30 * 24 * time.Hour,
		FirstBlock:       72 * time.Hour,
		BlockGrowth:      3,
		MaxBlock:         75 * 24 * time.Hour,
		PermanentAfter:   5,
	}
}

// Validate checks the rules; field names are the configuration's.
func (p SuppressionPolicy) Validate() error {
	var errs FieldErrors
	check := func(ok bool, field, reason string) {
		if !ok {
			errs = append(errs, FieldError{"suppression." + field, reason})
		}
	}
	for _, d := range p.ProviderDomains {
		check(isHostName(d) && !hasUpper(d), "provider_domains", "must be lower-case domain names, got "+strconv.Quote(d))
	}
	check(p.HardBounces >= 1, "hard_bounces", "must be at least 1")
	check(p.HardBounceWindow > 0, "hard_bounce_window", "must be positive")
	check(p.FirstBlock > 0, "first_block", "must be positive")
	check(p.BlockGrowth >= 1 && p.BlockGrowth <= 100, "block_growth", "must be between 1 and 100")
	check(p.MaxBlock >= p.FirstBlock, "max_block", "must be at least first_block")
	check(p.PermanentAfter >= 1, "permanent_after", "must be at least 1")
	check(p.HistoryLimit >= 0, "history_limit", "must not be negative (0 keeps every change)")
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// BlockPeriod is how long the n-th temporary block in a row lasts (n >= 1).
func (p SuppressionPolicy) BlockPeriod(n int) time.Duration {
	d := float64(p.FirstBlock)
	for i := 1; i < n && d < float64(p.MaxBlock); i++ {
		d *= p.BlockGrowth // in float: no overflow before the cap applies
	}
	return min(time.Duration(min(d, float64(p.MaxBlock))), p.MaxBlock)
}

// IsProvider reports whether domain (lower case) is a large provider's.
func (p SuppressionPolicy) IsProvider(domain string) bool {
	return slices.Contains(p.ProviderDomains, domain)
}

// Recipient is what dpmon knows of one address for one account. A zero
// Recipient is an address never seen: active.
type Recipient struct {
	Status RecipientStatus
	Reason SuppressionReason
	// Since is when the status began; Until is when a temporary block ends.
	Since time.Time
	Until time.Time
	// SoftBlocks are the temporary blocks in a row since the last delivery;
	// LastSoftBounce is the bounce that started the latest.
	SoftBlocks     int
	LastSoftBounce time.Time
	// HardBounces are the times of hard bounces not yet enough to suppress.
	HardBounces []time.Time
	// LiftedAt is when an operator last lifted a suppression or block:
	// bounces that occurred before it are late reports of what was lifted.
	LiftedAt time.Time
}

// RecipientChange is one entry of a recipient's history.
type RecipientChange struct {
	At     time.Time
	Kind   ChangeKind
	Status RecipientStatus
	Reason SuppressionReason
	Until  time.Time
	// EventID and Bounce tell which event caused it, with the server's
	// full reply; Actor and Note who made a manual change and why.
	EventID     string
	Bounce      *Bounce
	Actor, Note string
	Description string
}

// At returns r as it stands at now: a temporary block that has run out is
// active again, since it ran out (its streak still counts).
func (r Recipient) At(now time.Time) Recipient {
	switch {
	case r.Status == 0:
		r.Status = RecipientActive
	case r.Status == RecipientBlocked && !now.Before(r.Until):
		r.Status, r.Reason, r.Since, r.Until = RecipientActive, 0, r.Until, time.Time{}
	}
	return r
}

// Allowed reports whether mail may go to the address at now.
func (r Recipient) Allowed(now time.Time) bool {
	return r.At(now).Status == RecipientActive
}

// Pending reports whether a delivery could change r: a streak of soft
// bounces or hard bounces still short of suppression. The store looks up
// only the deliveries to such recipients.
func (r Recipient) Pending() bool {
	return r.Status != RecipientSuppressed && (r.SoftBlocks > 0 || len(r.HardBounces) > 0)
}

// Observe applies an accepted event for the address and returns the change
// to record, if any. A bounce must have its verdict decided. Sends, and
// bounces of class block or undetermined, change nothing: they say nothing
// about the address.
func (r *Recipient) Observe(e *Event, p SuppressionPolicy) (RecipientChange, bool) {
	if r.Status == 0 {
		r.Status = RecipientActive
	}
	c := RecipientChange{At: e.OccurredAt, EventID: e.ID}
	var changed bool
	switch e.Type {
	case EventBounce:
		if e.Bounce == nil || e.OccurredAt.Before(r.LiftedAt) {
			return c, false
		}
		c.Bounce = e.Bounce
		switch e.Bounce.Verdict {
		case BounceHard:
			// A provider's word is trusted at once only when it is final: a
			// 4xx that reads like an unknown user (or a quoted 2xx) counts
			// like a small server's bounce.
			atOnce := p.IsProvider(AddressDomain(e.Recipient)) && !notPermanent(*e.Bounce)
			c.Kind, changed = ChangeHardBounce, r.hardBounce(&c, atOnce, p)
		case BounceSoft:
			c.Kind, changed = ChangeSoftBounce, r.softBounce(&c, p)
		}
	case EventComplaint:
		c.Kind, changed = ChangeComplaint, r.suppress(&c, SuppressedComplaint)
		c.Description = "Complaint: the recipient reported the mail as spam; suppressed for good."
	case EventSpamTrapHit:
		c.Kind, changed = ChangeSpamTrapHit, r.suppress(&c, SuppressedSpamTrap)
		c.Description = "Spam trap: the address is a trap that no person reads; suppressed for good."
	case EventUnsubscribe:
		c.Kind, changed = ChangeUnsubscribe, r.suppress(&c, SuppressedUnsubscribed)
		c.Description = "Unsubscribed: the recipient asked for no more mail; suppressed for good."
	case EventDelivery:
		c.Kind, changed = ChangeDelivery, r.delivered(&c)
	}
	if !changed {
		return RecipientChange{}, false
	}
	c.Status, c.Reason, c.Until = r.Status, r.Reason, r.Until
	return c, true
}

func (r *Recipient) hardBounce(c *RecipientChange, atOnce bool, p SuppressionPolicy) bool {
	if r.Status == RecipientSuppressed {
		if !r.suppress(c, SuppressedHardBounce) {
			return false
		}
		c.Description = "Hard bounce: the suppression's reason is now the hard bounce."
		return true
	}
	recent := r.HardBounces[:0]
	for _, t := range r.HardBounces {
		if t.After(c.At.Add(-p.HardBounceWindow)) {
			recent = append(recent, t)
		}
	}
	r.HardBounces = append(recent, c.At)
	switch {
	case atOnce:
		c.Description = "Hard bounce at a large mailbox provider: suppressed at once."
	case len(r.HardBounces) >= p.HardBounces:
		c.Description = fmt.Sprintf("Hard bounce %d within %s: suppressed.", len(r.HardBounces), DurationLabel(p.HardBounceWindow))
	default:
		c.Description = fmt.Sprintf("Hard bounce %d of %d within %s at a smaller mail server: %d more suppresses the address.",
			len(r.HardBounces), p.HardBounces, DurationLabel(p.HardBounceWindow), p.HardBounces-len(r.HardBounces))
		return true
	}
	r.suppress(c, SuppressedHardBounce)
	return true
}

func (r *Recipient) softBounce(c *RecipientChange, p SuppressionPolicy) bool {
	switch {
	case r.Status == RecipientSuppressed:
		return false
	case r.Status == RecipientBlocked && c.At.Before(r.Until), !c.At.After(r.LastSoftBounce):
		// Retries of mail sent before the block, or an older report.
		return false
	}
	r.SoftBlocks++
	r.LastSoftBounce = c.At
	if r.SoftBlocks >= p.PermanentAfter {
		r.suppress(c, SuppressedRepeatedSoftBounces)
		c.Description = fmt.Sprintf("Soft bounce: temporary block %d in a row, so the address is suppressed for good.", r.SoftBlocks)
		return true
	}
	period := p.BlockPeriod(r.SoftBlocks)
	r.Status, r.Reason, r.Since, r.Until = RecipientBlocked, SuppressedSoftBounce, c.At, c.At.Add(period)
	c.Description = fmt.Sprintf("Soft bounce: temporary block %d in a row, for %s; block %d suppresses for good.",
		r.SoftBlocks, DurationLabel(period), p.PermanentAfter)
	return true
}

// suppress suppresses the address for reason unless it already is for a
// reason as strong, and reports whether anything changed.
func (r *Recipient) suppress(c *RecipientChange, reason SuppressionReason) bool {
	if r.Status == RecipientSuppressed && r.Reason.rank() >= reason.rank() {
		return false
	}
	r.Status, r.Reason, r.Since, r.Until = RecipientSuppressed, reason, c.At, time.Time{}
	r.HardBounces = nil
	return true
}

// delivered ends a streak of soft bounces and forgets the hard bounces
// that came before the delivery: the address works. A suppression stays.
func (r *Recipient) delivered(c *RecipientChange) bool {
	if !r.Pending() {
		return false
	}
	changed := false
	if r.SoftBlocks > 0 && c.At.After(r.LastSoftBounce) {
		r.SoftBlocks = 0
		if r.Status == RecipientBlocked {
			r.Status, r.Reason, r.Since, r.Until = RecipientActive, 0, c.At, time.Time{}
		}
		changed = true
	}
	if n := len(r.HardBounces); n > 0 {
		r.HardBounces = slices.DeleteFunc(r.HardBounces, func(t time.Time) bool { return t.Before(c.At) })
		changed = changed || len(r.HardBounces) < n
	}
	if changed {
		c.Description = "Delivered: the address works, so its bounce streak ends."
	}
	return changed
}

// MaxManualNoteLen bounds the note of an operator's change to a recipient:
// one line in the recipient's history.
const MaxManualNoteLen = 1024

// ValidateManualNote checks the note of an operator's suppression or lift
// on its own: it is required, so that the recipient's history says why.
func ValidateManualNote(note string) FieldErrors {
	reason := CheckText(note, MaxManualNoteLen)
	if note == "" {
		reason = "is required: say why, for the recipient's history"
	}
	if reason != "" {
		return FieldErrors{{"note", reason}}
	}
	return nil
}

// Suppress suppresses the address by an operator's hand, for good.
func (r *Recipient) Suppress(now time.Time, actor, note string) (RecipientChange, error) {
	if r.Status == RecipientSuppressed {
		return RecipientChange{}, fmt.Errorf("%w: the address is already suppressed (%s)", ErrConflict, r.Reason)
	}
	c := RecipientChange{At: now, Kind: ChangeManualAdd, Actor: actor, Note: note,
		Description: "Suppressed by " + actor + "."}
	r.suppress(&c, SuppressedManual)
	c.Status, c.Reason = r.Status, r.Reason
	return c, nil
}

// Lift makes the address active again by an operator's hand, forgetting
// its bounces, also a streak or pending hard bounces of an active one.
// Bounces reported later but older than the lift are ignored.
func (r *Recipient) Lift(now time.Time, actor, note string) (RecipientChange, error) {
	if r.Allowed(now) && !r.Pending() {
		return RecipientChange{}, fmt.Errorf("%w: the address is neither suppressed nor blocked and has no bounces to forget", ErrFailedPrecondition)
	}
	what := "Bounce streak forgotten"
	if was := r.At(now); was.Status != RecipientActive {
		what = "Suppression (" + was.Reason.String() + ") lifted"
	}
	*r = Recipient{Status: RecipientActive, Since: now, LiftedAt: now}
	return RecipientChange{At: now, Kind: ChangeManualDelete, Status: RecipientActive, Actor: actor, Note: note,
		Description: what + " by " + actor + "."}, nil
}

// Imported is one suppression brought in from a list the platform already
// has (a provider's export, its own): the address suppressed for reason
// since the time the list says.
type Imported struct {
	Key    string
	Reason SuppressionReason
	Since  time.Time
	Note   string
}

// CheckImported returns why an imported suppression cannot be taken at
// now, by field; the key is checked by the caller, who read the address.
func CheckImported(im Imported, now time.Time) FieldErrors {
	var errs FieldErrors
	if im.Reason == SuppressedSoftBounce || im.Reason < SuppressedHardBounce || im.Reason > SuppressedSpamTrap {
		errs = append(errs, FieldError{"reason", "must be hard_bounce, repeated_soft_bounces, complaint, unsubscribed, manual or spam_trap: a soft bounce blocks for a while, it does not suppress"})
	}
	if im.Since.After(now) {
		errs = append(errs, FieldError{"since", "is in the future"})
	}
	if reason := CheckText(im.Note, MaxManualNoteLen); reason != "" {
		errs = append(errs, FieldError{"note", reason})
	}
	return errs
}

// Import suppresses the address as im says, unless it already is for a
// reason as strong: importing a list twice changes nothing. It reports
// whether the record changed.
func (r *Recipient) Import(now time.Time, im Imported, actor string) (RecipientChange, bool) {
	c := RecipientChange{At: now, Kind: ChangeManualAdd, Actor: actor, Note: im.Note,
		Description: "Imported by " + actor + ": " + im.Reason.String() + "."}
	if !r.suppress(&c, im.Reason) {
		return RecipientChange{}, false
	}
	if !im.Since.IsZero() {
		r.Since = im.Since // what the list says, not when it was read
	}
	c.Status, c.Reason = r.Status, r.Reason
	return c, true
}
