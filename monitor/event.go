package monitor

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// EventType says what happened to a message.
type EventType uint8

// The event types; the numbers match the wire enum.
const (
	EventSend        EventType = 1
	EventDelivery    EventType = 2
	EventBounce      EventType = 3
	EventComplaint   EventType = 4
	EventUnsubscribe EventType = 5
	// EventSpamTrapHit says mail reached a spam trap: the recipient.
	EventSpamTrapHit EventType = 6
	// EventBlocklistListing says a sending IP or domain was listed; it has
	// no recipient.
	EventBlocklistListing EventType = 7
	EventOpen             EventType = 8
	EventClick            EventType = 9
	// EventAuthFailure says a receiver reported a message of the account
	// failing authentication (an ARF auth-failure report: SPF, DKIM or
	// DMARC). It says how the platform signs, not what a recipient wants,
	// so it counts in no rate and suppresses no one; the recipient is
	// optional.
	EventAuthFailure EventType = 10
)

// MaxEventType is the highest known event type, for tables indexed by type.
const MaxEventType = EventAuthFailure

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool { return t >= EventSend && t <= MaxEventType }

// BounceClass is the kind of a bounce as far as reputation is concerned.
type BounceClass uint8

// The bounce classes; the numbers match the wire enum.
const (
	BounceUnspecified  BounceClass = 0
	BounceHard         BounceClass = 1
	BounceSoft         BounceClass = 2
	BounceBlock        BounceClass = 3
	BounceUndetermined BounceClass = 4
)

// Valid reports whether c is a known class; unspecified is valid.
func (c BounceClass) Valid() bool { return c <= BounceUndetermined }

// Event is one observation about one message to one recipient.
type Event struct {
	ID         string
	AccountID  string
	Type       EventType
	OccurredAt time.Time
	Recipient  string
	Sender     string
	MessageID  string
	Bounce     *Bounce
	Complaint  *Complaint
	Listing    *Listing
}

// Listing says where a blocklist listed the account's mail.
type Listing struct {
	Blocklist string
	Listed    string
}

// Bounce is what the receiving server said about a refused message.
type Bounce struct {
	SMTPCode       int
	EnhancedStatus string
	Diagnostic     string
	// Class is the producer's hint; see Classify for how it is used.
	Class BounceClass
	// Verdict is the class dpmon decided when it accepted the event. It is
	// stored with the event so that a replay counts the bounce as it was
	// counted then, even if the rules have changed since.
	Verdict BounceClass
	// Reason and Rule explain the verdict. They go into the recipient's
	// history, not into the event log: a replay needs only the class.
	Reason BounceReason
	Rule   string
}

// Decide classifies a bounce event (see Classify); it does nothing to
// other events or to a bounce already decided.
func (e *Event) Decide() {
	if e.Bounce != nil && e.Bounce.Verdict == BounceUnspecified {
		v := Classify(*e.Bounce)
		e.Bounce.Verdict, e.Bounce.Reason, e.Bounce.Rule = v.Class, v.Reason, v.Rule
	}
}

// Counts returns what the event adds to its account's windows.
func (e *Event) Counts() Counts {
	switch e.Type {
	case EventSend:
		return Counts{Sends: 1}
	case EventComplaint:
		return Counts{Complaints: 1}
	case EventBounce:
		if e.Bounce == nil {
			return Counts{}
		}
		verdict := e.Bounce.Verdict
		if verdict == BounceUnspecified {
			verdict = Classify(*e.Bounce).Class
		}
		switch verdict {
		case BounceHard:
			return Counts{HardBounces: 1}
		case BounceBlock:
			return Counts{Blocks: 1}
		}
	}
	return Counts{}
}

// Complaint describes a spam complaint (RFC 5965 feedback report).
type Complaint struct {
	FeedbackType string
	Source       string
}

// Size limits of event fields, in bytes.
const (
	MaxIDLen           = 256
	MaxMessageIDLen    = 998 // RFC 5322 line length
	MaxDiagnosticLen   = 4096
	MaxFeedbackTypeLen = 64
	MaxSourceLen       = 256
	MaxBlocklistLen    = 256
)

// Limits bound the timestamps an event may carry.
type Limits struct {
	// DedupeHorizon is how long an event_id is remembered. Older events are
	// refused: they could no longer be recognised as duplicates.
	DedupeHorizon time.Duration
	// MaxClockSkew is how far in the future occurred_at may lie.
	MaxClockSkew time.Duration
	// DedupeFloor, when set, is the oldest occurred_at accepted: the
	// dedupe index, at its memory bound, forgot the ids of events that
	// could have occurred before it, so a repeat of one of them could no
	// longer be recognised.
	DedupeFloor time.Time
}

// FloorViolation is the violation of an event that occurred before the
// dedupe floor.
func (l Limits) FloorViolation() FieldError {
	return FieldError{"occurred_at", "is older than " + l.DedupeFloor.UTC().Format(time.RFC3339) +
		": the deduplication index is at its memory bound and remembers no older event ids"}
}

// DefaultLimits are the limits used when the configuration names none.
func DefaultLimits() Limits {
	return Limits{DedupeHorizon: 8 * 24 * time.Hour, MaxClockSkew: 15 * time.Minute}
}

// Validate checks e against the rules of an event received at now and
// returns the first violation found as a FieldError, or nil.
func (e *Event) Validate(now time.Time, l Limits) error {
	if reason := CheckID(e.ID); reason != "" {
		return FieldError{"event_id", reason}
	}
	if reason := CheckID(e.AccountID); reason != "" {
		return FieldError{"account_id", reason}
	}
	if !e.Type.Valid() {
		return FieldError{"type", "must be one of the EVENT_TYPE_ values other than UNSPECIFIED, got " + strconv.Itoa(int(e.Type))}
	}
	switch {
	case e.OccurredAt.IsZero():
		return FieldError{"occurred_at", "is required"}
	case e.OccurredAt.After(now.Add(l.MaxClockSkew)):
		return FieldError{"occurred_at", "is more than " + l.MaxClockSkew.String() + " in the future"}
	case e.OccurredAt.Before(now.Add(-l.DedupeHorizon)):
		return FieldError{"occurred_at", "is older than the deduplication horizon of " + l.DedupeHorizon.String()}
	case e.OccurredAt.Before(l.DedupeFloor):
		return l.FloorViolation()
	}
	switch {
	case e.Recipient == "" && e.Type != EventBlocklistListing && e.Type != EventAuthFailure:
		return FieldError{"recipient", "is required"}
	case e.Recipient != "":
		if reason := CheckAddress(e.Recipient); reason != "" {
			return FieldError{"recipient", reason}
		}
	}
	if e.Sender != "" {
		if reason := CheckAddress(e.Sender); reason != "" {
			return FieldError{"sender", reason}
		}
	}
	if reason := CheckText(e.MessageID, MaxMessageIDLen); reason != "" {
		return FieldError{"message_id", reason}
	}
	if err := e.validateBounce(); err != nil {
		return err
	}
	if err := e.validateComplaint(); err != nil {
		return err
	}
	return e.validateListing()
}

func (e *Event) validateListing() error {
	l := e.Listing
	if e.Type != EventBlocklistListing {
		if l != nil {
			return FieldError{"listing", "is only allowed on EVENT_TYPE_BLOCKLIST_LISTING"}
		}
		return nil
	}
	switch {
	case l == nil:
		return FieldError{"listing", "is required on EVENT_TYPE_BLOCKLIST_LISTING"}
	case l.Blocklist == "":
		return FieldError{"listing.blocklist", "is required"}
	}
	if reason := CheckText(l.Blocklist, MaxBlocklistLen); reason != "" {
		return FieldError{"listing.blocklist", reason}
	}
	if reason := CheckText(l.Listed, MaxBlocklistLen); reason != "" {
		return FieldError{"listing.listed", reason}
	}
	return nil
}

func (e *Event) validateBounce() error {
	if e.Type != EventBounce {
		if e.Bounce != nil {
			return FieldError{"bounce", "is only allowed on EVENT_TYPE_BOUNCE"}
		}
		return nil
	}
	if e.Bounce == nil {
		return FieldError{"bounce", "is required on EVENT_TYPE_BOUNCE"}
	}
	return e.Bounce.Validate("bounce.")
}

// Validate checks the server's reply of a bounce and returns the first
// violation as a FieldError whose field name starts with prefix.
func (b *Bounce) Validate(prefix string) error {
	if b.SMTPCode != 0 && !ValidReplyCode(b.SMTPCode) {
		return FieldError{prefix + "smtp_code", "must be an SMTP reply code 2yz to 5yz with y 0-5, got " + strconv.Itoa(b.SMTPCode)}
	}
	if b.EnhancedStatus != "" && !ValidEnhancedStatus(b.EnhancedStatus) {
		return FieldError{prefix + "enhanced_status", "must be an RFC 3463 status code like 5.1.1 (class 2, 4 or 5)"}
	}
	if reason := CheckText(b.Diagnostic, MaxDiagnosticLen); reason != "" {
		return FieldError{prefix + "diagnostic", reason}
	}
	if !b.Class.Valid() {
		return FieldError{prefix + "class", "must be one of the BOUNCE_CLASS_ values, got " + strconv.Itoa(int(b.Class))}
	}
	return nil
}

func (e *Event) validateComplaint() error {
	c := e.Complaint
	if c == nil {
		return nil
	}
	if e.Type != EventComplaint {
		return FieldError{"complaint", "is only allowed on EVENT_TYPE_COMPLAINT"}
	}
	if reason := CheckText(c.FeedbackType, MaxFeedbackTypeLen); reason != "" {
		return FieldError{"complaint.feedback_type", reason}
	}
	if reason := CheckText(c.Source, MaxSourceLen); reason != "" {
		return FieldError{"complaint.source", reason}
	}
	return nil
}

// CheckID returns why s is not a usable identifier (an event or account
// id), or "" when it is one.
func CheckID(s string) string {
	if s == "" {
		return "is required"
	}
	if reason := CheckName(s, MaxIDLen); reason != "" {
		return reason
	}
	if strings.TrimSpace(s) == "" {
		return "must not be blank"
	}
	return ""
}

// CheckName returns why s is not acceptable as a name of at most max bytes
// that people tell apart by eye: ids, display names. It is CheckText
// without invisible formatting characters (Unicode Cf) either: U+202E
// reverses what follows it, U+200B and U+FEFF show as nothing, so that
// one name could pass for another in lists, emails and Slack.
func CheckName(s string, max int) string { return checkText(s, max, true) }

// CheckText returns why s is not acceptable free text of at most max bytes:
// it must be valid UTF-8 without control characters (tabs included: every
// field here is a single line) and without line or paragraph separators
// (U+2028, U+2029). Those break the line in some readers and not in
// others, so that a single-line field could show a forged second line, as
// a newline would. Notes, which noteErrors splits at '\n', keep to the
// same rule: one kind of line break reads alike in mail, Slack and logs.
// Invisible formatting characters are allowed here: emoji sequences need
// U+200D, some scripts U+200C.
func CheckText(s string, max int) string { return checkText(s, max, false) }

func checkText(s string, max int, name bool) string {
	if len(s) > max {
		return "is longer than " + strconv.Itoa(max) + " bytes"
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return "contains a control character"
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if reason := checkRune(r, size, name); reason != "" {
			return reason
		}
		i += size
	}
	return ""
}

// checkRune returns why the non-ASCII rune r, decoded from size bytes, may
// not be in a text, or in a name when name is set; "" when it may.
func checkRune(r rune, size int, name bool) string {
	switch {
	case r == utf8.RuneError && size == 1:
		return "is not valid UTF-8"
	case unicode.IsControl(r):
		return "contains a control character"
	case r == '\u2028' || r == '\u2029': // categories Zl and Zp hold only these two
		return fmt.Sprintf("contains a line or paragraph separator (U+%04X)", r)
	case name && unicode.Is(unicode.Cf, r):
		return fmt.Sprintf("contains an invisible formatting character (U+%04X)", r)
	}
	return ""
}

// ValidReplyCode accepts the SMTP reply codes a bounce may quote:
// 2yz to 5yz with y in 0-5 (RFC 5321 section 4.2.1). A DSN carries what
// the remote said last, which is not always a refusal (a "250 2.6.0" after
// a failure further on, the "220" banner of a server that then dropped
// the connection); the text decides such a bounce, and a success reply
// with no failure in its text is undetermined.
func ValidReplyCode(code int) bool {
	if code < 200 || code > 599 {
		return false
	}
	return (code/10)%10 <= 5
}

// ValidEnhancedStatus accepts class.subject.detail with class 2, 4 or 5
// (success, persistent transient or permanent failure), a subject of 1-3
// digits and a detail of 1-3 digits (RFC 3463 section 2).
func ValidEnhancedStatus(s string) bool {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return false
	}
	rest := s[2:]
	dot := strings.IndexByte(rest, '.')
	if dot < 0 {
		return false
	}
	return allDigits(rest[:dot], 3) && allDigits(rest[dot+1:], 3)
}

func allDigits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
