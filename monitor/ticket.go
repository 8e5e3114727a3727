package monitor

import (
	"fmt"
	"slices"
	"time"
)

// TicketState is where a reinstatement ticket stands.
type TicketState uint8

// The states; the numbers match the wire enum.
const (
	TicketOpen     TicketState = 1
	TicketApproved TicketState = 2
	TicketRejected TicketState = 3
)

// Valid reports whether s is a known state.
func (s TicketState) Valid() bool { return s >= TicketOpen && s <= TicketRejected }

func (s TicketState) String() string {
	switch s {
	case TicketOpen:
		return "open"
	case TicketApproved:
		return "approved"
	case TicketRejected:
		return "rejected"
	}
	return "unspecified"
}

// Checklist is what a suspended account says it changed.
type Checklist struct {
	BouncedAddressesRemoved bool
	ListSource              string
	OptInMethod             string
	ComplaintHandling       string
	Authentication          string
}

// Comment is one comment on a ticket, by the account or an admin.
type Comment struct {
	At           time.Time
	Author, Role string
	Text         string
}

// Approval is one admin's approval of a ticket.
type Approval struct {
	At    time.Time
	Admin string
	Note  string
}

// Ticket is a suspended account's request to be reinstated.
type Ticket struct {
	ID          string
	AccountID   string
	State       TicketState
	Description string
	Checklist   Checklist
	CreatedAt   time.Time
	CreatedBy   string
	Comments    []Comment
	Approvals   []Approval
	// RequiredApprovals is how many different admins must approve: more
	// than one for an account reinstated again and again.
	RequiredApprovals int
	// RecentReinstatements is the account's count when the ticket opened,
	// shown to the admins who judge it.
	RecentReinstatements int
	ClosedAt             time.Time
	ClosedBy             string
	// Resolution is the last approval's note or the rejection's reason.
	Resolution string
	// Sender is set when the ticket asks to unblock one sender address
	// that the bulk policy blocked, not to reinstate the account.
	Sender string
}

// MaxComments bounds a ticket's comments, so that one record stays small.
const MaxComments = 200

// ValidateTicket checks a new ticket on its own, so that a malformed one is
// refused alike whatever exists: a description, a checklist of texts
// people write, and, when given, a sender that is a plain address.
func ValidateTicket(description string, c Checklist, sender string) FieldErrors {
	errs := noteErrors("description", description)
	for _, f := range []struct{ field, text string }{
		{"checklist.list_source", c.ListSource}, {"checklist.opt_in_method", c.OptInMethod},
		{"checklist.complaint_handling", c.ComplaintHandling}, {"checklist.authentication", c.Authentication},
	} {
		if f.text == "" {
			continue // the checklist is what the account chooses to say
		}
		errs = append(errs, noteErrors(f.field, f.text)...)
	}
	return append(errs, SenderErrors(sender, false)...)
}

// ValidateComment checks a ticket's comment on its own.
func ValidateComment(text string) FieldErrors { return noteErrors("text", text) }

// ValidateApproval checks an approval's note on its own; the note is
// optional.
func ValidateApproval(note string) FieldErrors {
	if note == "" {
		return nil
	}
	return noteErrors("note", note)
}

// ValidateRejection checks a rejection on its own: the account is told
// the reason, so it is required.
func ValidateRejection(reason string) FieldErrors { return noteErrors("reason", reason) }

// OpenTicket opens ticket id for account a at now. Only a suspended account
// may open one, and only one at a time; with a sender, only for a sender
// the bulk policy blocked, one at a time per sender.
func OpenTicket(id string, a *Account, now time.Time, description string, c Checklist, author, sender string, p Policy) (*Ticket, error) {
	if errs := ValidateTicket(description, c, sender); errs != nil {
		return nil, errs
	}
	if sender != "" {
		return openSenderTicket(id, a, now, description, c, author, sender)
	}
	if a.State.Phase != PhaseSuspended {
		return nil, fmt.Errorf("%w: account %s is %s; only a suspended account asks for reinstatement", ErrFailedPrecondition, a.ID, a.State.Phase)
	}
	if a.OpenTicket != "" {
		return nil, fmt.Errorf("%w: account %s already has the open ticket %s", ErrConflict, a.ID, a.OpenTicket)
	}
	t := &Ticket{
		ID: id, AccountID: a.ID, State: TicketOpen, Description: description, Checklist: c,
		CreatedAt: now, CreatedBy: author, RequiredApprovals: 1,
		RecentReinstatements: a.RecentReinstatements(now, p),
	}
	if p.RepeatReinstatements > 0 && t.RecentReinstatements >= p.RepeatReinstatements {
		t.RequiredApprovals = p.RepeatApprovals
	}
	a.OpenTicket = id
	return t, nil
}

func openSenderTicket(id string, a *Account, now time.Time, description string, c Checklist, author, sender string) (*Ticket, error) {
	key := SenderKey(sender)
	s := a.Senders[key]
	switch {
	case s == nil || !s.Blocked:
		return nil, fmt.Errorf("%w: sender %s of account %s is not blocked", ErrFailedPrecondition, key, a.ID)
	case s.OpenTicket != "":
		return nil, fmt.Errorf("%w: sender %s already has the open ticket %s", ErrConflict, key, s.OpenTicket)
	}
	s.OpenTicket = id
	return &Ticket{
		ID: id, AccountID: a.ID, Sender: key, State: TicketOpen, Description: description, Checklist: c,
		CreatedAt: now, CreatedBy: author, RequiredApprovals: 1,
	}, nil
}

// AddComment adds a comment to an open ticket.
func (t *Ticket) AddComment(now time.Time, author, role, text string) error {
	if errs := ValidateComment(text); errs != nil {
		return errs
	}
	if t.State != TicketOpen {
		return fmt.Errorf("%w: ticket %s is %s", ErrFailedPrecondition, t.ID, t.State)
	}
	if len(t.Comments) >= MaxComments {
		return fmt.Errorf("%w: ticket %s has the most comments a ticket may have, %d", ErrFailedPrecondition, t.ID, MaxComments)
	}
	t.Comments = append(t.Comments, Comment{At: now, Author: author, Role: role, Text: text})
	return nil
}

// Approve records admin's approval. Once enough different admins approved,
// the ticket closes and the account is reinstated into probation; the
// transition is returned with reinstated true.
func (t *Ticket) Approve(now time.Time, admin, note string, a *Account, p Policy) (tr Transition, reinstated bool, err error) {
	if errs := ValidateApproval(note); errs != nil {
		return Transition{}, false, errs
	}
	if t.State != TicketOpen {
		return Transition{}, false, fmt.Errorf("%w: ticket %s is %s", ErrFailedPrecondition, t.ID, t.State)
	}
	if slices.ContainsFunc(t.Approvals, func(ap Approval) bool { return ap.Admin == admin }) {
		return Transition{}, false, fmt.Errorf("%w: %s already approved ticket %s; it needs %d different admins",
			ErrConflict, admin, t.ID, t.RequiredApprovals)
	}
	t.Approvals = append(t.Approvals, Approval{At: now, Admin: admin, Note: note})
	if len(t.Approvals) < t.RequiredApprovals {
		return Transition{}, false, nil
	}
	if t.Sender != "" {
		tr, err = a.unblockSender(now, t.Sender, note, admin, t.ID)
	} else {
		tr, err = a.Reinstate(now, note, admin, p)
	}
	if err != nil {
		t.Approvals = t.Approvals[:len(t.Approvals)-1]
		return Transition{}, false, err
	}
	t.close(now, TicketApproved, admin, note)
	if t.Sender == "" {
		a.OpenTicket = ""
	}
	return tr, true, nil
}

// Reject closes the ticket with a reason; the account stays suspended and
// may open a new ticket.
func (t *Ticket) Reject(now time.Time, admin, reason string, a *Account) error {
	if errs := ValidateRejection(reason); errs != nil {
		return errs
	}
	if t.State != TicketOpen {
		return fmt.Errorf("%w: ticket %s is %s", ErrFailedPrecondition, t.ID, t.State)
	}
	t.close(now, TicketRejected, admin, reason)
	if t.Sender == "" {
		a.OpenTicket = ""
	} else if s := a.Senders[t.Sender]; s != nil && s.OpenTicket == t.ID {
		s.OpenTicket = ""
	}
	return nil
}

func (t *Ticket) close(now time.Time, s TicketState, by, resolution string) {
	t.State, t.ClosedAt, t.ClosedBy, t.Resolution = s, now, by, resolution
}

// Clone returns a deep copy, for readers that must not share the live one.
func (t *Ticket) Clone() *Ticket {
	c := *t
	c.Comments = slices.Clone(t.Comments)
	c.Approvals = slices.Clone(t.Approvals)
	return &c
}
