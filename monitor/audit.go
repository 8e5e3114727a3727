package monitor

import "time"

// Actor is who asked for a change: the name of its token or certificate,
// and its role.
type Actor struct {
	Name string
	Role string
}

// AuditEntry is one state-changing call, recorded in the transaction of the
// change it made, so that the record and the state never disagree.
type AuditEntry struct {
	Seq       uint64 // set when read back
	At        time.Time
	Actor     Actor
	Action    string // the call, e.g. "ApproveTicket"
	AccountID string
	TicketID  string
	// Before and After are the account's phase or the ticket's state, when
	// the call changed one.
	Before, After string
	Detail        string
}

// audited is the entry of a call on account a that found it in phase
// before.
func audited(now time.Time, who Actor, action string, a *Account, before Phase, detail string) AuditEntry {
	e := AuditEntry{At: now, Actor: who, Action: action, AccountID: a.ID, Detail: detail}
	if before != a.State.Phase {
		e.Before, e.After = before.String(), a.State.Phase.String()
	}
	return e
}
