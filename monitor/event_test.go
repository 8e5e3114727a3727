package monitor

import (
	"errors"
	"net/mail"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func validEvent() Event {
	return Event{
		ID:         "evt-1",
		AccountID:  "acme",
		Type:       EventBounce,
		OccurredAt: now.Add(-time.Hour),
		Recipient:  "jane.doe+news@example.com",
		Sender:     "news@acme.example",
		MessageID:  "<abc@acme.example>",
		Bounce:     &Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.1.1 user unknown", Class: BounceHard},
	}
}

func TestValidateAcceptsAGoodEvent(t *testing.T) {
	e := validEvent()
	if err := e.Validate(now, DefaultLimits()); err != nil {
		t.Fatalf("Validate = %v, want nil", err)
	}
}

// A DSN may quote a success reply the remote gave last: such a bounce is
// accepted, and with no failure in its text it is undetermined and counts
// as no bounce at all, even with the producer's hint of a hard one.
func TestBounceQuotingASuccessReply(t *testing.T) {
	for _, b := range []Bounce{
		{SMTPCode: 250, EnhancedStatus: "2.6.0", Diagnostic: "250 2.6.0 Message received", Class: BounceHard},
		{SMTPCode: 220, Diagnostic: "220 mx.example.com ESMTP ready"},
		{EnhancedStatus: "2.1.5"},
	} {
		e := validEvent()
		e.Bounce = &b
		if err := e.Validate(now, DefaultLimits()); err != nil {
			t.Errorf("%+v: Validate = %v, want nil", b, err)
			continue
		}
		e.Decide()
		if e.Bounce.Verdict != BounceUndetermined {
			t.Errorf("%+v: verdict %v by %s, want undetermined", b, e.Bounce.Verdict, e.Bounce.Rule)
		}
		if c := e.Counts(); c != (Counts{}) {
			t.Errorf("%+v: counts %+v, want none", b, c)
		}
	}
}

// An event before the dedupe floor is refused, one at it accepted.
func TestValidateRefusesEventsBeforeTheDedupeFloor(t *testing.T) {
	e := validEvent()
	l := DefaultLimits()
	l.DedupeFloor = e.OccurredAt.Add(time.Second)
	if err := e.Validate(now, l); !errors.Is(err, l.FloorViolation()) {
		t.Errorf("an event before the floor: %v, want %v", err, l.FloorViolation())
	}
	l.DedupeFloor = e.OccurredAt
	if err := e.Validate(now, l); err != nil {
		t.Errorf("an event at the floor: %v, want nil", err)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		field  string
		mutate func(e *Event)
	}{
		{"event_id", func(e *Event) { e.ID = "" }},
		{"event_id", func(e *Event) { e.ID = "   " }},
		{"event_id", func(e *Event) { e.ID = strings.Repeat("x", MaxIDLen+1) }},
		{"event_id", func(e *Event) { e.ID = "a\x00b" }},
		{"event_id", func(e *Event) { e.ID = "a\u0085b" }},
		{"event_id", func(e *Event) { e.ID = "a\xffb" }},
		{"account_id", func(e *Event) { e.AccountID = "" }},
		{"account_id", func(e *Event) { e.AccountID = "acme\n" }},
		{"type", func(e *Event) { e.Type = 0 }},
		{"type", func(e *Event) { e.Type = 42 }},
		{"occurred_at", func(e *Event) { e.OccurredAt = time.Time{} }},
		{"occurred_at", func(e *Event) { e.OccurredAt = now.Add(time.Hour) }},
		{"occurred_at", func(e *Event) { e.OccurredAt = now.Add(-9 * 24 * time.Hour) }},
		{"recipient", func(e *Event) { e.Recipient = "" }},
		{"recipient", func(e *Event) { e.Recipient = "no-at-sign" }},
		{"recipient", func(e *Event) { e.Recipient = "Jane <jane@example.com>" }},
		{"recipient", func(e *Event) { e.Recipient = "jane@localhost" }},
		{"recipient", func(e *Event) { e.Recipient = "jane..doe@example.com" }},
		{"recipient", func(e *Event) { e.Recipient = "jane@-example.com" }},
		{"sender", func(e *Event) { e.Sender = "news@" }},
		{"message_id", func(e *Event) { e.MessageID = "<a\r\nb>" }},
		{"bounce", func(e *Event) { e.Bounce = nil }},
		{"bounce", func(e *Event) { e.Type = EventSend }},
		{"bounce.smtp_code", func(e *Event) { e.Bounce.SMTPCode = 199 }},
		{"bounce.smtp_code", func(e *Event) { e.Bounce.SMTPCode = 260 }},
		{"bounce.smtp_code", func(e *Event) { e.Bounce.SMTPCode = 599 }},
		{"bounce.smtp_code", func(e *Event) { e.Bounce.SMTPCode = 1000 }},
		{"bounce.enhanced_status", func(e *Event) { e.Bounce.EnhancedStatus = "3.0.0" }},
		{"bounce.enhanced_status", func(e *Event) { e.Bounce.EnhancedStatus = "5.1" }},
		{"bounce.enhanced_status", func(e *Event) { e.Bounce.EnhancedStatus = "5.1.1000" }},
		{"bounce.diagnostic", func(e *Event) { e.Bounce.Diagnostic = strings.Repeat("d", MaxDiagnosticLen+1) }},
		{"bounce.class", func(e *Event) { e.Bounce.Class = 9 }},
		{"complaint", func(e *Event) { e.Complaint = &Complaint{FeedbackType: "abuse"} }},
		{"complaint.feedback_type", func(e *Event) {
			e.Type, e.Bounce = EventComplaint, nil
			e.Complaint = &Complaint{FeedbackType: strings.Repeat("a", 65)}
		}},
	}
	for _, tt := range tests {
		e := validEvent()
		tt.mutate(&e)
		err := e.Validate(now, DefaultLimits())
		var fe FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || fe.Reason == "" {
			t.Errorf("%+v: Validate = %v, want an error on %s", e, err, tt.field)
		}
	}
}

func TestCheckAddressAcceptsRealAddresses(t *testing.T) {
	for _, addr := range []string{
		"a@b.co", "first.last@sub.example.org", "o'brien@example.ie", "x+tag@example.com",
		"用户@例子.广告", "jörg@bücher.de", "a_b-c@x-y.example", strings.Repeat("l", 64) + "@example.com",
	} {
		if reason := CheckAddress(addr); reason != "" {
			t.Errorf("CheckAddress(%q) = %q, want ok", addr, reason)
		}
	}
}

// Every string of an event that is refused is refused by name, with a
// reason that says what is wrong with it.
func TestValidateSaysWhyAStringIsRefused(t *testing.T) {
	complaint := func(e *Event) { e.Type, e.Bounce, e.Complaint = EventComplaint, nil, &Complaint{} }
	listing := func(e *Event) {
		e.Type, e.Bounce, e.Recipient, e.Listing = EventBlocklistListing, nil, "", &Listing{Blocklist: "zen.spamhaus.org", Listed: "192.0.2.1"}
	}
	tests := []struct {
		field, reason string
		mutate        func(e *Event)
	}{
		{"event_id", "is not valid UTF-8", func(e *Event) { e.ID = "evt-\xff" }},
		{"account_id", "is not valid UTF-8", func(e *Event) { e.AccountID = "\xc3(" }},
		{"recipient", "has a local part that is not valid UTF-8", func(e *Event) { e.Recipient = "j\xffne@example.com" }},
		{"recipient", "has a domain that is not valid UTF-8", func(e *Event) { e.Recipient = "jane@ex\xe2\x82ample.com" }},
		{"sender", "has a local part that is not valid UTF-8", func(e *Event) { e.Sender = "\xffnews@acme.example" }},
		{"message_id", "is not valid UTF-8", func(e *Event) { e.MessageID = "<\xff@acme.example>" }},
		{"bounce.diagnostic", "is not valid UTF-8", func(e *Event) { e.Bounce.Diagnostic = "550 \xff" }},
		{"complaint.feedback_type", "is not valid UTF-8", func(e *Event) { complaint(e); e.Complaint.FeedbackType = "\xff" }},
		{"complaint.source", "is not valid UTF-8", func(e *Event) { complaint(e); e.Complaint.Source = "\xff" }},
		{"listing.blocklist", "is not valid UTF-8", func(e *Event) { listing(e); e.Listing.Blocklist = "\xff" }},
		{"listing.listed", "is not valid UTF-8", func(e *Event) { listing(e); e.Listing.Listed = "\xff" }},
		{"account_id", "contains an invisible formatting character (U+202E)", func(e *Event) { e.AccountID = "acme\u202egnp.exe" }},
		{"account_id", "contains an invisible formatting character (U+200B)", func(e *Event) { e.AccountID = "ac\u200bme" }},
		{"account_id", "contains a line or paragraph separator (U+2028)", func(e *Event) { e.AccountID = "acme\u2028beta" }},
		{"event_id", "contains an invisible formatting character (U+FEFF)", func(e *Event) { e.ID = "\ufeffevt-1" }},
		{"recipient", "has a local part that contains an invisible formatting character (U+200B)", func(e *Event) { e.Recipient = "ja\u200bne@example.com" }},
		{"sender", "has a domain that contains an invisible formatting character (U+200D)", func(e *Event) { e.Sender = "news@ac\u200dme.example" }},
		{"message_id", "contains a line or paragraph separator (U+2029)", func(e *Event) { e.MessageID = "<a\u2029b@acme.example>" }},
	}
	for i, tt := range tests {
		e := validEvent()
		tt.mutate(&e)
		err := e.Validate(now, DefaultLimits())
		var fe FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || fe.Reason != tt.reason {
			// Quoted: the characters under test would garble the output.
			t.Errorf("case %d: Validate = %+q, want %s: %s", i, err, tt.field, tt.reason)
		}
	}
}

// Ids, names and addresses refuse what would make one look like another;
// free text keeps the formatting characters that emoji and scripts need.
func TestChecksOfWhatPeopleRead(t *testing.T) {
	text := func(s string) string { return CheckText(s, 100) }
	name := func(s string) string { return CheckName(s, 100) }
	tests := []struct {
		check, in, want string
	}{
		{"id", "acme", ""},
		{"id", "société-générale", ""},
		{"id", "مثال", ""},
		{"id", "acme\u202e", "contains an invisible formatting character (U+202E)"},
		{"id", "ac\u200bme", "contains an invisible formatting character (U+200B)"},
		{"id", "\ufeffacme", "contains an invisible formatting character (U+FEFF)"},
		{"id", "ac\u00adme", "contains an invisible formatting character (U+00AD)"},
		{"id", "acme\u2028", "contains a line or paragraph separator (U+2028)"},
		{"id", "acme\u2029", "contains a line or paragraph separator (U+2029)"},
		{"id", "acme\u0085", "contains a control character"},
		{"id", "acme\xff", "is not valid UTF-8"},
		{"name", "Acme Corp.", ""},
		{"name", "Acme \U0001F468\u200D\U0001F469", "contains an invisible formatting character (U+200D)"},
		{"name", "Acme\u2066Corp", "contains an invisible formatting character (U+2066)"},
		{"text", "Acme \U0001F468\u200D\U0001F469\u200D\U0001F467", ""},
		{"text", "می\u200cخواهم", ""},
		{"text", "550 user unknown\u2028250 ok", "contains a line or paragraph separator (U+2028)"},
		{"text", "a\u2029b", "contains a line or paragraph separator (U+2029)"},
		{"text", "a\tb", "contains a control character"},
		{"text", "a\xe2\x80", "is not valid UTF-8"},
		{"address", "jörg@bücher.de", ""},
		{"address", "ja\u200bne@example.com", "has a local part that contains an invisible formatting character (U+200B)"},
		{"address", "jane\u202e@example.com", "has a local part that contains an invisible formatting character (U+202E)"},
		{"address", "jane@exa\u200bmple.com", "has a domain that contains an invisible formatting character (U+200B)"},
		{"address", "jane@example\u2028.com", "has a domain that contains a line or paragraph separator (U+2028)"},
		{"address", "ja\u0085ne@example.com", "has a local part that contains a control character"},
		{"address", "j\xffne@example.com", "has a local part that is not valid UTF-8"},
		{"address", "jane@\xffexample.com", "has a domain that is not valid UTF-8"},
		{"address", "ja\ufffdne@example.com", "has a local part that contains U+FFFD, the replacement character"},
		{"address", "ja ne@example.com", "has an invalid local part"},
		{"address", "jane@exa_mple.com", "has an invalid domain"},
	}
	checks := map[string]func(string) string{"id": CheckID, "name": name, "text": text, "address": CheckAddress}
	for _, tt := range tests {
		if got := checks[tt.check](tt.in); got != tt.want {
			t.Errorf("%s %+q: got %q, want %q", tt.check, tt.in, got, tt.want)
		}
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("evt-1", "acme", uint8(3), int64(-3600), "jane@example.com", "news@acme.example", 550, "5.1.1", "user unknown", uint8(1))
	f.Add("", " ", uint8(0), int64(0), "a@b", "", 0, "", "", uint8(0))
	f.Add("e\x00", "acme", uint8(9), int64(1e9), "\"q\"@example.com", "x@[1.2.3.4]", 250, "5..1", "\xff", uint8(7))
	f.Fuzz(func(t *testing.T, id, account string, typ uint8, offset int64, rcpt, sender string, code int, enhanced, diag string, class uint8) {
		e := Event{
			ID: id, AccountID: account, Type: EventType(typ), OccurredAt: now.Add(time.Duration(offset) * time.Second),
			Recipient: rcpt, Sender: sender,
		}
		if e.Type == EventBounce {
			e.Bounce = &Bounce{SMTPCode: code, EnhancedStatus: enhanced, Diagnostic: diag, Class: BounceClass(class)}
		}
		err := e.Validate(now, DefaultLimits())
		if err == nil {
			// What is accepted is well formed by independent standards.
			for _, addr := range []string{e.Recipient, e.Sender} {
				if addr == "" {
					continue
				}
				parsed, perr := mail.ParseAddress(addr)
				if perr != nil || parsed.Address != addr {
					t.Fatalf("accepted address %q that net/mail reads as %v, %v", addr, parsed, perr)
				}
			}
			e.Decide()
			if e.Type == EventBounce && !e.Bounce.Verdict.Valid() {
				t.Fatalf("invalid verdict %d", e.Bounce.Verdict)
			}
			return
		}
		var fe FieldError
		if !errors.As(err, &fe) || fe.Field == "" || fe.Reason == "" {
			t.Fatalf("Validate = %v, want a FieldError naming a field", err)
		}
	})
}

func TestClassifyByCodes(t *testing.T) {
	tests := []struct {
		b    Bounce
		want BounceClass
	}{
		{Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}, BounceHard},
		{Bounce{SMTPCode: 550, EnhancedStatus: "5.1.10"}, BounceHard},
		{Bounce{SMTPCode: 552, EnhancedStatus: "5.2.2"}, BounceSoft},
		{Bounce{SMTPCode: 550, EnhancedStatus: "5.7.1"}, BounceBlock},
		{Bounce{SMTPCode: 451, EnhancedStatus: "4.7.1"}, BounceSoft},
		{Bounce{SMTPCode: 421}, BounceSoft},
		{Bounce{SMTPCode: 550}, BounceUndetermined},
		{Bounce{SMTPCode: 550, Class: BounceHard}, BounceUndetermined},    // dpmon classifies what it is given
		{Bounce{Class: BounceHard}, BounceHard},                           // the hint, when there is nothing else
		{Bounce{EnhancedStatus: "5.7.1", Class: BounceHard}, BounceBlock}, // the code beats the hint
		{Bounce{}, BounceUndetermined},
	}
	for _, tt := range tests {
		if got := Classify(tt.b).Class; got != tt.want {
			t.Errorf("Classify(%+v) = %d, want %d", tt.b, got, tt.want)
		}
	}
}

func TestEventCounts(t *testing.T) {
	hard := Event{Type: EventBounce, Bounce: &Bounce{Class: BounceHard}}
	soft := Event{Type: EventBounce, Bounce: &Bounce{EnhancedStatus: "4.2.2"}}
	tests := []struct {
		e    Event
		want Counts
	}{
		{Event{Type: EventSend}, Counts{Sends: 1}},
		{Event{Type: EventDelivery}, Counts{}},
		{hard, Counts{HardBounces: 1}},
		{soft, Counts{}},
		{Event{Type: EventComplaint}, Counts{Complaints: 1}},
		{Event{Type: EventUnsubscribe}, Counts{}},
	}
	for _, tt := range tests {
		if got := tt.e.Counts(); got != tt.want {
			t.Errorf("%+v.Counts() = %+v, want %+v", tt.e, got, tt.want)
		}
	}
}
