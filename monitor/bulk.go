package monitor

import (
	"cmp"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// BulkPolicy is the rule of shared outbound relays against mass mail: a
// sender address that mails more distinct recipients within Window than
// its limit allows is blocked until an admin lifts the block.
//
// The limit in effect for a sender is
//
//	limit = max(MinLimit, floor(BaseLimit × bounceFactor × volumeFactor))
//	bounceFactor = max(0, 1 − BounceWeight × share)
//	share        = bounces / max(sends, ShareFloor)   (the sender's, in Window)
//	volumeFactor = 1 while the platform sent at most BusyVolume in Window,
//	               else max(0.5, BusyVolume / platform sends)
//
// Bounces are the sender's hard bounces and blocks: both say it mails
// addresses that do not want its mail. ShareFloor keeps a sender's first
// bounce from flooring its limit. A busy platform is when a spam run
// hurts most, so every limit tightens, but never below half.
type BulkPolicy struct {
	// Enabled is the default of accounts that do not choose.
	Enabled      bool
	Window       time.Duration
	BaseLimit    int
	MinLimit     int
	BounceWeight float64
	ShareFloor   int
	BusyVolume   uint64
}

// DefaultBulkPolicy returns the rule used when the configuration names none.
func DefaultBulkPolicy() BulkPolicy {
	return BulkPolicy{Window: time.Hour, BaseLimit: 40, MinLimit: 10, BounceWeight: 4, ShareFloor: 10, BusyVolume: 500_000}
}

// maxBulkLimit bounds BaseLimit: the count is exact up to it, and each
// step of it costs a slot per active sender.
const maxBulkLimit = 1000

// Validate checks the rule; field names are the configuration's.
func (p BulkPolicy) Validate() FieldErrors {
	var errs FieldErrors
	check := func(ok bool, field, reason string) {
		if !ok {
			errs = append(errs, FieldError{"bulk." + field, reason})
		}
	}
	check(p.Window >= senderBuckets*time.Second && p.Window <= 24*time.Hour, "window", "must be between 12s and 24h")
	check(p.BaseLimit >= 1 && p.BaseLimit <= maxBulkLimit, "base_limit", "must be between 1 and "+strconv.Itoa(maxBulkLimit))
	check(p.MinLimit >= 1 && p.MinLimit <= p.BaseLimit, "min_limit", "must be between 1 and base_limit")
	check(p.BounceWeight >= 0 && p.BounceWeight <= 100, "bounce_weight", "must be between 0 and 100")
	check(p.ShareFloor >= 1, "share_floor", "must be at least 1")
	return errs
}

// VolumeFactor is what the platform's sends in the window do to every limit.
func (p BulkPolicy) VolumeFactor(platformSends uint64) float64 {
	if p.BusyVolume == 0 || platformSends <= p.BusyVolume {
		return 1
	}
	return max(0.5, float64(p.BusyVolume)/float64(platformSends))
}

// Limit is the number of distinct recipients a sender with the given
// sends and bounces in the window may mail, on a platform that sent
// platformSends; see BulkPolicy for the formula.
func (p BulkPolicy) Limit(sends, bounces, platformSends uint64) (limit int, share float64) {
	share = float64(bounces) / float64(max(sends, uint64(p.ShareFloor)))
	f := max(0, 1-p.BounceWeight*share) * p.VolumeFactor(platformSends)
	return max(p.MinLimit, int(math.Floor(float64(p.BaseLimit)*f+1e-9))), share
}

// senderBuckets is how many buckets a sender's window is cut into.
const senderBuckets = 12

// senderTrack counts one sender address over the bulk window: the distinct
// recipients it mailed (exactly, up to one more than the base limit: no
// limit is higher) and its sends and bounces per bucket.
type senderTrack struct {
	sender     string
	recipients recipientSet
	// newest is the latest second a send was counted at: the window ends
	// there, also for a send reported late.
	newest uint32
	// overflowed is set when a send found more than the base limit of
	// recipients live: over every limit at that moment, even if some have
	// expired by the time the sender is judged.
	overflowed bool
	counts     windowRing[senderCounts]
	dirty      bool
}

// senderCounts are a sender's sends and bounces in one bucket.
type senderCounts struct{ sends, bounces uint32 }

// castagnoli is the CRC-32C table, which CPUs compute in hardware.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recipientHash hashes an address as RecipientKey would normalise it
// (domain in lower case), without allocating. The hash is the same in
// every process, since sender tracks are saved with their tallies; a
// sender that found colliding addresses would only count fewer distinct
// recipients than it mailed, as it would by mailing fewer.
func recipientHash(addr string) uint32 {
	at := strings.LastIndexByte(addr, '@')
	if !hasUpper(addr[at+1:]) {
		return crc32.Update(0, castagnoli, unsafe.Slice(unsafe.StringData(addr), len(addr)))
	}
	key := RecipientKey(addr)
	return crc32.Update(0, castagnoli, []byte(key))
}

// windowSeconds is the bulk window in whole seconds.
func (p BulkPolicy) windowSeconds() uint32 { return uint32(p.Window / time.Second) }

// count adds a send or a bounce at unix nanoseconds at to the buckets.
func (t *senderTrack) count(at int64, send bool, p BulkPolicy) {
	c := t.counts.at(at / p.bucketSize())
	switch {
	case c == nil: // older than the window
	case send:
		c.sends++
	default:
		c.bounces++
	}
}

// mailed records a send to the recipient with hash h at unix nanoseconds
// at. Past one more than the base limit the sender is over any limit, so
// more recipients are not recorded.
func (t *senderTrack) mailed(h uint32, at int64, p BulkPolicy) {
	t.count(at, true, p)
	sec := uint32(at / int64(time.Second))
	t.newest = max(t.newest, sec)
	// Expiry is measured from the newest send, not from this one: a send
	// reported late must not see long-expired recipients as live (and,
	// finding the set full, be dropped).
	expired := t.newest - p.windowSeconds()
	if sec <= expired {
		return // older than the window
	}
	if !t.recipients.add(h, sec, expired, p.BaseLimit+1) {
		t.overflowed = true
	}
}

// distinct counts the recipients mailed within the window before now.
func (t *senderTrack) distinct(now time.Time, p BulkPolicy) int {
	return t.recipients.live(uint32(now.Unix()) - p.windowSeconds())
}

// totals sums the sends and bounces of the buckets within the window.
func (t *senderTrack) totals(now time.Time, p BulkPolicy) (sends, bounces uint64) {
	t.counts.each(now.UnixNano()/p.bucketSize(), func(c senderCounts) {
		sends += uint64(c.sends)
		bounces += uint64(c.bounces)
	})
	return sends, bounces
}

// idle reports whether nothing of the track lies within the window.
func (t *senderTrack) idle(now time.Time, p BulkPolicy) bool {
	return t.distinct(now, p) == 0 && now.UnixNano()/p.bucketSize() >= t.counts.head+senderBuckets
}

// Sender is what is kept of a sender address the bulk policy blocked.
type Sender struct {
	Blocked bool
	// Since is when it was blocked, or when the block was lifted.
	Since  time.Time
	Reason string
	// The counts that blocked it.
	Distinct    int
	Limit       int
	BounceShare float64
	// OpenTicket is the id of the open ticket asking to unblock it.
	OpenTicket string
	// CountFrom is when the block was lifted: only what the sender mails
	// after it counts, also when the log is replayed.
	CountFrom time.Time
}

// SenderStatus is one sender address as the bulk policy sees it now.
type SenderStatus struct {
	Address  string
	Distinct int
	Limit    int
	// BounceShare is the sender's bounces per send in the window.
	BounceShare float64
	Sender
}

// ReasonCode names why a transition happened, for programs.
type ReasonCode uint8

// The codes; the numbers match the wire enum.
const (
	CodeBulkPolicyViolation ReasonCode = 1
	CodeSenderUnblocked     ReasonCode = 2
)

// SenderKey is how a sender address is counted: in lower case, local part
// included, so that changing the case of a sender does not make a new one.
func SenderKey(addr string) string {
	if !hasUpper(addr) {
		return addr
	}
	return strings.ToLower(addr)
}

// BulkChoice is an account's own choice of the bulk policy.
type BulkChoice uint8

// The choices.
const (
	// BulkDefault follows the policy's default.
	BulkDefault BulkChoice = iota
	BulkOn
	BulkOff
)

// BulkChoiceOf is the choice a wire or record field says: nil for the
// default.
func BulkChoiceOf(on *bool) BulkChoice {
	switch {
	case on == nil:
		return BulkDefault
	case *on:
		return BulkOn
	}
	return BulkOff
}

// Ptr is the choice as an optional field: nil for the default.
func (c BulkChoice) Ptr() *bool {
	if c == BulkDefault {
		return nil
	}
	on := c == BulkOn
	return &on
}

// BulkEnabled reports whether the account is under the bulk policy.
func (a *Account) BulkEnabled(p *Policy) bool {
	if a.Bulk != BulkDefault {
		return a.Bulk == BulkOn
	}
	return p.Bulk.Enabled
}

// BulkFrom starts counting senders afresh at now: the bulk policy has just
// come to apply to the account, and mail sent before it was allowed.
func (a *Account) BulkFrom(now time.Time) {
	a.BulkSince = now
	a.tracks = nil
}

// observeSender counts a send or a sender's bounce of an account under the
// bulk policy; at is when it counts (see Observe). It does not keep
// e's strings: replay passes strings that point into the log.
func (a *Account) observeSender(e *Event, at, acceptedAt time.Time, p BulkPolicy) {
	send := e.Type == EventSend
	if !send && !(e.Type == EventBounce && e.Bounce != nil && (e.Bounce.Verdict == BounceHard || e.Bounce.Verdict == BounceBlock)) {
		return
	}
	// By when dpmon received it: a replay must not count what arrived
	// while the policy was off, but a send stamped a moment before it came
	// on and received after is mail sent under it.
	if acceptedAt.Before(a.BulkSince) {
		return
	}
	key := SenderKey(e.Sender)
	if s, ok := a.Senders[key]; ok && (at.Before(s.CountFrom) || acceptedAt.Before(s.CountFrom)) {
		return
	}
	// A run of events from one sender is common: remember the last track
	// rather than hash the sender again.
	if a.tracks == nil {
		a.tracks = &senderTracks{byKey: make(map[string]*senderTrack)}
	}
	ts := a.tracks
	t := ts.last
	if t == nil || t.sender != key {
		t = ts.byKey[key]
	}
	if t == nil {
		key = strings.Clone(key)
		t = &senderTrack{sender: key}
		ts.byKey[key] = t
	}
	if send {
		t.mailed(recipientHash(e.Recipient), at.UnixNano(), p)
	} else {
		t.count(at.UnixNano(), false, p)
	}
	ts.last = t
	if !t.dirty {
		t.dirty = true
		ts.dirty = append(ts.dirty, t)
	}
}

// senderTracks are an account's sender tracks, apart from the account
// since most accounts have none.
type senderTracks struct {
	byKey map[string]*senderTrack
	// dirty are the tracks counted since the last StepSenders; last is the
	// one counted last, which the next event most often repeats.
	dirty []*senderTrack
	last  *senderTrack
}

// track returns the track of sender key, or nil.
func (ts *senderTracks) track(key string) *senderTrack {
	if ts == nil {
		return nil
	}
	return ts.byKey[key]
}

func (ts *senderTracks) clone() *senderTracks {
	if ts == nil {
		return nil
	}
	c := &senderTracks{byKey: cloneMap(ts.byKey, func(t *senderTrack) *senderTrack {
		v := *t
		v.recipients.slots = slices.Clone(t.recipients.slots)
		return &v
	})}
	// The clone's list points to its own tracks.
	for _, t := range ts.dirty {
		c.dirty = append(c.dirty, c.byKey[t.sender])
	}
	return c
}

// HasSendersToJudge reports whether senders were counted since the last
// StepSenders.
func (a *Account) HasSendersToJudge() bool { return a.tracks != nil && len(a.tracks.dirty) > 0 }

// StepSenders judges the senders counted since the last call at now and
// blocks each that mailed more distinct recipients than its limit, given
// the platform's sends in the window. It returns the blocks made.
func (a *Account) StepSenders(now time.Time, global *Policy, platformSends uint64) []Transition {
	if !a.HasSendersToJudge() {
		return nil
	}
	ts := a.tracks
	if !a.BulkEnabled(global) {
		// Turned off since these were counted.
		for _, t := range ts.dirty {
			t.dirty = false
		}
		clear(ts.dirty)
		ts.dirty = ts.dirty[:0]
		return nil
	}
	p := global.Bulk
	var made []Transition
	for i, t := range ts.dirty {
		ts.dirty[i] = nil
		t.dirty = false
		// Fewer recipients recorded than the lowest limit: nothing to
		// judge. (Recorded ones include expired ones, so this is cheap
		// and never wrong.)
		if t.recipients.used <= p.MinLimit && !t.overflowed {
			continue
		}
		if s := a.Senders[t.sender]; s != nil && s.Blocked {
			continue
		}
		st := a.senderStatus(t.sender, t, now, p, platformSends)
		if t.overflowed {
			st.Distinct = max(st.Distinct, p.BaseLimit+1)
			t.overflowed = false
		}
		if st.Distinct <= st.Limit {
			continue
		}
		made = append(made, a.blockSender(t.sender, st, now, p))
	}
	ts.dirty = ts.dirty[:0]
	return made
}

func (a *Account) blockSender(key string, st SenderStatus, now time.Time, p BulkPolicy) Transition {
	limitNote := ""
	if st.Limit < p.BaseLimit {
		limitNote = fmt.Sprintf(" (lowered from %d by its bounce share of %s and the platform's volume)", p.BaseLimit, percent(st.BounceShare))
	}
	count := strconv.Itoa(st.Distinct)
	if st.Distinct > p.BaseLimit {
		count = "at least " + count // counted exactly only up to there
	}
	reason := fmt.Sprintf("Sender %s is blocked for bulk sending (BULK_POLICY_VIOLATION): it mailed %s distinct recipients within %s, more than its limit of %d%s. "+
		"This relay does not carry mass mail, however it is split into messages.", key, count, DurationLabel(p.Window), st.Limit, limitNote)
	s := &Sender{Blocked: true, Since: now, Reason: reason, Distinct: st.Distinct, Limit: st.Limit, BounceShare: st.BounceShare}
	if old := a.Senders[key]; old != nil {
		s.CountFrom = old.CountFrom
	}
	if a.Senders == nil {
		a.Senders = make(map[string]*Sender)
	}
	a.Senders[key] = s
	return Transition{
		AccountID: a.ID, Sender: key, Code: CodeBulkPolicyViolation, At: now, From: PhaseHealthy, To: PhaseSuspended,
		Reason: reason, Recommendations: bulkAdvice,
	}
}

var bulkAdvice = []string{
	"Send newsletters and other mail to many recipients through a bulk-sending service, not through this relay.",
	"Open a reinstatement ticket naming the sender (CreateTicket with sender) that says what it sends and why, or ask an admin to unblock it (UnblockSender).",
	"Remove addresses that bounced: bounces lower the sender's limit.",
}

// ValidateUnblock checks an admin's unblocking on its own, so that a
// malformed one is refused alike whatever exists: which sender, and why.
func ValidateUnblock(sender, note string) FieldErrors {
	return append(SenderErrors(sender, true), noteErrors("note", note)...)
}

// SenderErrors names the field sender when it is not a plain address, or
// when it is missing and required.
func SenderErrors(sender string, required bool) FieldErrors {
	switch {
	case sender == "" && required:
		return FieldErrors{{"sender", "is required"}}
	case sender == "":
		return nil
	}
	if reason := CheckAddress(sender); reason != "" {
		return FieldErrors{{"sender", reason}}
	}
	return nil
}

// UnblockSender lifts the bulk-policy block of sender; it then counts
// afresh from now. A block with an open ticket is lifted by approving the
// ticket, so that the ticket does not stay open on a sender that may send.
func (a *Account) UnblockSender(now time.Time, sender, note, actor string) (Transition, error) {
	if errs := ValidateUnblock(sender, note); errs != nil {
		return Transition{}, errs
	}
	return a.unblockSender(now, sender, note, actor, "")
}

func (a *Account) unblockSender(now time.Time, sender, note, actor, ticket string) (Transition, error) {
	key := SenderKey(sender)
	s := a.Senders[key]
	switch {
	case s == nil || !s.Blocked:
		return Transition{}, fmt.Errorf("%w: sender %s of account %s is not blocked", ErrFailedPrecondition, key, a.ID)
	case s.OpenTicket != "" && s.OpenTicket != ticket:
		return Transition{}, fmt.Errorf("%w: sender %s has the open ticket %s; approve or reject it", ErrFailedPrecondition, key, s.OpenTicket)
	}
	reason := "Sender " + key + " is unblocked: it counts afresh from now."
	if note != "" {
		reason += " Note: " + note
	}
	a.Senders[key] = &Sender{Since: now, Reason: reason, CountFrom: now}
	if t := a.tracks.track(key); t != nil {
		// Emptied in place: the track may be in the list StepSenders reads.
		*t = senderTrack{sender: key, dirty: t.dirty}
	}
	return Transition{
		AccountID: a.ID, Sender: key, Code: CodeSenderUnblocked, At: now, From: PhaseSuspended, To: PhaseHealthy,
		Reason: reason, Actor: actor,
	}, nil
}

// SenderStatus returns how the bulk policy sees sender at now.
func (a *Account) SenderStatus(sender string, now time.Time, global Policy, platformSends uint64) SenderStatus {
	key := SenderKey(sender)
	return a.senderStatus(key, a.tracks.track(key), now, global.Bulk, platformSends)
}

func (a *Account) senderStatus(key string, t *senderTrack, now time.Time, p BulkPolicy, platformSends uint64) SenderStatus {
	st := SenderStatus{Address: key}
	var sends, bounces uint64
	if t != nil {
		st.Distinct = t.distinct(now, p)
		sends, bounces = t.totals(now, p)
	}
	st.Limit, st.BounceShare = p.Limit(sends, bounces, platformSends)
	if s := a.Senders[key]; s != nil {
		st.Sender = *s
	}
	return st
}

// maxListedSenders bounds the senders GetAccount shows.
const maxListedSenders = 100

// SenderStatuses lists the blocked senders, then the most active others,
// at most maxListedSenders in all.
func (a *Account) SenderStatuses(now time.Time, global Policy, platformSends uint64) []SenderStatus {
	var out []SenderStatus
	for key, s := range a.Senders {
		if s.Blocked {
			out = append(out, a.senderStatus(key, a.tracks.track(key), now, global.Bulk, platformSends))
		}
	}
	var tracks map[string]*senderTrack
	if a.tracks != nil {
		tracks = a.tracks.byKey
	}
	for key, t := range tracks {
		if s := a.Senders[key]; s != nil && s.Blocked {
			continue
		}
		if st := a.senderStatus(key, t, now, global.Bulk, platformSends); st.Distinct > 0 {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(x, y SenderStatus) int {
		if x.Blocked != y.Blocked {
			if x.Blocked {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(y.Distinct, x.Distinct), strings.Compare(x.Address, y.Address))
	})
	return out[:min(len(out), maxListedSenders)]
}

// ForgetIdleSenders drops the counts of senders with nothing in the window,
// and lifted blocks that no longer matter, so that memory follows the
// active senders. It runs on the sweep.
func (a *Account) ForgetIdleSenders(now time.Time, global Policy) (changed bool) {
	p := global.Bulk
	if ts := a.tracks; ts != nil {
		for key, t := range ts.byKey {
			if !t.dirty && t.idle(now, p) {
				delete(ts.byKey, key)
			}
		}
		ts.last = nil
		if len(ts.byKey) == 0 {
			a.tracks = nil
		}
	}
	for key, s := range a.Senders {
		if !s.Blocked && s.OpenTicket == "" && !s.CountFrom.After(now.Add(-p.Window-p.Window/senderBuckets)) {
			delete(a.Senders, key)
			changed = true
		}
	}
	return changed
}

// Volume counts the platform's sends over the bulk window, for the volume
// factor of every sender's limit.
type Volume struct {
	sends windowRing[uint64]
}

// Add counts n sends at t.
func (v *Volume) Add(t time.Time, n uint64, p BulkPolicy) {
	if c := v.sends.at(t.UnixNano() / p.bucketSize()); c != nil {
		*c += n
	}
}

// Sum returns the sends within the window before now.
func (v *Volume) Sum(now time.Time, p BulkPolicy) uint64 {
	var sum uint64
	v.sends.each(now.UnixNano()/p.bucketSize(), func(n uint64) { sum += n })
	return sum
}

// bucketSize is the length of one of the window's buckets, in nanoseconds.
func (p BulkPolicy) bucketSize() int64 { return int64(p.Window) / senderBuckets }

// windowRing is the bulk window cut into senderBuckets buckets of T.
type windowRing[T any] struct {
	head    int64 // absolute number of the newest bucket; 0 before the first
	buckets [senderBuckets]T
}

// at returns bucket b, moving the ring forward to it; nil when b is older
// than the window.
func (r *windowRing[T]) at(b int64) *T {
	switch {
	case r.head == 0:
		r.head = b
	case b > r.head:
		var zero T
		for i := r.head + 1; i <= min(b, r.head+senderBuckets); i++ {
			r.buckets[i%senderBuckets] = zero
		}
		r.head = b
	case b <= r.head-senderBuckets:
		return nil
	}
	return &r.buckets[b%senderBuckets]
}

// each calls fn with every bucket of the window that ends with bucket now.
func (r *windowRing[T]) each(now int64, fn func(T)) {
	for b := max(now-senderBuckets+1, r.head-senderBuckets+1); b <= min(now, r.head); b++ {
		fn(r.buckets[b%senderBuckets])
	}
}
