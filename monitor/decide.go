package monitor

import "time"

// Decider decides everything that follows from one commit group at one
// instant: the events it counts, the calls it carries out (an admin's or a
// sender's) and the judgements of the accounts they touched. Each method
// changes the accounts it is given and adds its consequences to Outcome:
// the transitions, who is told of them, and the audit trail. The store
// persists the Outcome in one transaction and decides nothing itself.
//
// The store calls the methods in the order the group brought its inputs,
// then Judge for every account they touched, so that a reader can follow
// why an account moved and who was told in this one file. Counting and
// judging are separate calls so that the store can let readers in between.
type Decider struct {
	Now    time.Time
	policy *Policy
	// volume is the platform's sends in the bulk window; platform caches
	// its sum at Now once a sender is judged (-1 until then).
	volume   *Volume
	platform int64
	Outcome
}

// Outcome is what a Decider decided, in the order it was decided.
type Outcome struct {
	Transitions []Transition
	// Notifications are the changes to tell, one each, addressed to the
	// account's admins in Recipients; the notifier's routes pick the
	// receivers.
	Notifications []Notification
	Audit         []AuditEntry
}

// NewDecider starts deciding at now under policy p; volume counts the
// platform's sends for the bulk policy.
func NewDecider(now time.Time, p *Policy, volume *Volume) *Decider {
	return &Decider{Now: now, policy: p, volume: volume, platform: -1}
}

// Count counts an accepted event of account a. It reports whether the
// event may change its recipient's suppression state, which lives with the
// recipient's record (see Recipient.Observe).
func (d *Decider) Count(a *Account, e *Event) (recipient bool) {
	if e.Type == EventSend {
		d.volume.Add(d.Now, 1, d.policy.Bulk)
	}
	a.Observe(e, d.Now, d.policy)
	return e.mayChangeRecipient()
}

// mayChangeRecipient reports whether the event may change the state of its
// recipient: a bounce that speaks of the address, a complaint, an
// unsubscribe, a spam trap, or a delivery (which ends a soft-bounce streak).
func (e *Event) mayChangeRecipient() bool {
	switch e.Type {
	case EventBounce:
		return e.Bounce != nil && (e.Bounce.Verdict == BounceHard || e.Bounce.Verdict == BounceSoft)
	case EventComplaint, EventUnsubscribe, EventSpamTrapHit, EventDelivery:
		return true
	}
	return false
}

// Judgement is what judging one account changed.
type Judgement struct {
	// Moved is set when the account's phase moved.
	Moved bool
	// Changed is set when the account's record must be saved.
	Changed bool
	// Forgot is set when idle senders were forgotten: the account's
	// counts changed other than by counting.
	Forgot bool
}

// Judge judges account a at the decision's instant: its phase, the senders
// counted since it was last judged, and on a sweep also its idle senders
// and its reputation score.
func (d *Decider) Judge(a *Account, sweep bool) Judgement {
	var j Judgement
	clearSince := a.State.ClearSince
	if t, moved := a.Step(d.Now, d.policy); moved {
		d.made(a, t)
		j.Moved = true
	}
	// Besides a move, Step changes only the cool-down's start, so that is
	// all it compares: copying the whole state of every account a batch
	// touches costs more than the judgement.
	j.Changed = j.Moved || !a.State.ClearSince.Equal(clearSince)
	if a.HasSendersToJudge() {
		for _, t := range a.StepSenders(d.Now, d.policy, d.platformSends()) {
			d.made(a, t)
			j.Changed = true
		}
	}
	if !sweep {
		return j
	}
	if a.ForgetIdleSenders(d.Now, *d.policy) {
		j.Changed, j.Forgot = true, true
	}
	low := a.ReputationLow
	alert, ok := a.JudgeReputation(d.Now, *d.policy)
	if a.ReputationLow != low {
		j.Changed = true
	}
	if ok {
		kind := KindReputationRecovered
		if alert.Low {
			kind = KindReputationLow
		}
		d.tell(a, kind, "", Transition{AccountID: a.ID, At: d.Now, From: a.State.Phase, To: a.State.Phase, Reason: alert.Message})
	}
	return j
}

// platformSends returns the platform's sends in the bulk window at Now.
func (d *Decider) platformSends() uint64 {
	if d.platform < 0 {
		d.platform = int64(d.volume.Sum(d.Now, d.policy.Bulk))
	}
	return uint64(d.platform)
}

// made records transition t of account a and tells of it.
func (d *Decider) made(a *Account, t Transition) {
	d.Transitions = append(d.Transitions, t)
	d.tell(a, KindOf(t), "", t)
}

// tell addresses a notification of kind about account a to its admins.
func (d *Decider) tell(a *Account, kind NotificationKind, ticket string, t Transition) {
	d.Notifications = append(d.Notifications, Notification{Kind: kind, AccountID: a.ID, TicketID: ticket,
		Transition: t, CreatedAt: d.Now, Recipients: a.AdminEmails})
}

// The calls. Each gets the account (and ticket) to change as copies: when
// it returns an error it has added nothing to the Outcome, and the store
// drops the copies.

// Update applies an admin's change of the account's settings. The account
// is judged again in the same group, since new thresholds may move it.
func (d *Decider) Update(a *Account, who Actor, change func(a *Account) error) error {
	before, bulkBefore := a.State.Phase, a.BulkEnabled(d.policy)
	if err := change(a); err != nil {
		return err
	}
	if !bulkBefore && a.BulkEnabled(d.policy) {
		// What was sent before the bulk policy applied does not count.
		a.BulkFrom(d.Now)
	}
	d.Audit = append(d.Audit, audited(d.Now, who, "UpdateAccount", a, before, ""))
	return nil
}

// Acknowledge records the account's answer to its warning.
func (d *Decider) Acknowledge(a *Account, who Actor, note string) error {
	if err := a.Acknowledge(d.Now, note, *d.policy); err != nil {
		return err
	}
	d.Audit = append(d.Audit, audited(d.Now, who, "AcknowledgeWarning", a, a.State.Phase, note))
	return nil
}

// Suspend suspends the account by an admin's hand.
func (d *Decider) Suspend(a *Account, who Actor, c SuspensionCategory, note string) error {
	before := a.State.Phase
	t, err := a.Suspend(d.Now, c, note, who.Name)
	if err != nil {
		return err
	}
	d.made(a, t)
	d.Audit = append(d.Audit, audited(d.Now, who, "SuspendAccount", a, before, c.String()+": "+note))
	return nil
}

// UnblockSender lifts the bulk-policy block of one sender address of the
// account by an admin's hand, and returns the sender's state after it.
func (d *Decider) UnblockSender(a *Account, who Actor, sender, note string) (SenderStatus, error) {
	t, err := a.UnblockSender(d.Now, sender, note, who.Name)
	if err != nil {
		return SenderStatus{}, err
	}
	d.made(a, t)
	d.Audit = append(d.Audit, AuditEntry{At: d.Now, Actor: who, Action: "UnblockSender", AccountID: a.ID,
		Before: "sender " + t.Sender + " blocked", After: "sender " + t.Sender + " unblocked", Detail: note})
	return a.SenderStatus(sender, d.Now, *d.policy, d.platformSends()), nil
}

// OpenTicket opens ticket id for the account (for one of its senders when
// sender is set) and tells its admins.
func (d *Decider) OpenTicket(a *Account, who Actor, id, sender, description string, c Checklist) (*Ticket, error) {
	t, err := OpenTicket(id, a, d.Now, description, c, who.Name, sender, *d.policy)
	if err != nil {
		return nil, err
	}
	what := "Reinstatement ticket " + t.ID
	if t.Sender != "" {
		what += " for sender " + t.Sender
	}
	d.tell(a, KindTicketOpened, t.ID, Transition{AccountID: a.ID, Sender: t.Sender, At: d.Now, From: a.State.Phase, To: a.State.Phase,
		Reason: what + " was opened: " + description})
	d.Audit = append(d.Audit, d.ticketAudit(who, "CreateTicket", t, AuditEntry{After: t.State.String()}))
	return t, nil
}

// CommentTicket adds a comment to an open ticket.
func (d *Decider) CommentTicket(t *Ticket, who Actor, text string) error {
	if err := t.AddComment(d.Now, who.Name, who.Role, text); err != nil {
		return err
	}
	d.Audit = append(d.Audit, d.ticketAudit(who, "AddTicketComment", t, AuditEntry{Detail: text}))
	return nil
}

// ApproveTicket records an admin's approval of ticket t of account a; with
// enough approvals the account (or the ticket's sender) is reinstated.
func (d *Decider) ApproveTicket(a *Account, t *Ticket, who Actor, note string) error {
	before := a.State.Phase
	tr, reinstated, err := t.Approve(d.Now, who.Name, note, a, *d.policy)
	if err != nil {
		return err
	}
	e := AuditEntry{Detail: note}
	if reinstated {
		d.made(a, tr)
		e.Before, e.After = before.String(), a.State.Phase.String()
	}
	d.Audit = append(d.Audit, d.ticketAudit(who, "ApproveTicket", t, e))
	return nil
}

// RejectTicket closes ticket t of account a with a reason; the account
// stays suspended.
func (d *Decider) RejectTicket(a *Account, t *Ticket, who Actor, reason string) error {
	if err := t.Reject(d.Now, who.Name, reason, a); err != nil {
		return err
	}
	d.Audit = append(d.Audit, d.ticketAudit(who, "RejectTicket", t,
		AuditEntry{Before: TicketOpen.String(), After: t.State.String(), Detail: reason}))
	return nil
}

// ticketAudit completes e, a call's entry on ticket t.
func (d *Decider) ticketAudit(who Actor, action string, t *Ticket, e AuditEntry) AuditEntry {
	e.At, e.Actor, e.Action, e.AccountID, e.TicketID = d.Now, who, action, t.AccountID, t.ID
	return e
}
