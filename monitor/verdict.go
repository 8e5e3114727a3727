package monitor

import (
	"slices"
	"time"
)

// SendVerdict answers "may this account send now?", the question a
// platform asks before every message it sends.
type SendVerdict struct {
	// Allowed is false while the account is suspended or the sender asked
	// about is blocked by the bulk policy. A quota used up leaves it true:
	// that answer is "later", see QuotaExhausted.
	Allowed bool
	Phase   Phase
	// Findings are the breaches measured now; for a suspended account
	// whose windows have drained since, those that suspended it.
	Findings []Finding
	// Reasons say why sending is refused; empty when it is allowed.
	Reasons         []string
	Recommendations []string
	// Sender is the state of the sender address asked about, if any.
	Sender *SenderStatus
	Quota  QuotaStatus
}

// QuotaExhausted reports whether the account may send, but not before its
// quota frees up (Quota.ResumesAt).
func (v SendVerdict) QuotaExhausted() bool { return v.Allowed && v.Quota.Exhausted() }

// MaySendTo reports whether a message may go to a recipient whose
// suppression state is r, at now.
func (v SendVerdict) MaySendTo(r Recipient, now time.Time) bool {
	return v.Allowed && r.Allowed(now)
}

// UnknownAccountVerdict is the verdict for an account dpmon has not seen:
// nothing speaks against it.
func UnknownAccountVerdict() SendVerdict {
	return SendVerdict{Allowed: true, Phase: PhaseHealthy}
}

// Verdict decides whether the account may send at now, and through sender
// when it is not empty. platformSends is the platform's sends in the bulk
// window, which scales a sender's limit; it is read only when sender is
// given.
func (a *Account) Verdict(now time.Time, p Policy, sender string, platformSends uint64) SendVerdict {
	v := SendVerdict{
		Allowed:         a.State.Phase != PhaseSuspended,
		Phase:           a.State.Phase,
		Findings:        a.Status(now, p).Findings,
		Recommendations: slices.Clone(a.State.Recommendations),
		Quota:           a.QuotaStatus(now, p),
	}
	if !v.Allowed {
		v.Reasons = []string{a.State.Reason}
		if len(v.Findings) == 0 {
			// The windows have drained since; the suspension still says why.
			v.Findings = slices.Clone(a.State.Findings)
		}
	}
	if sender != "" {
		st := a.SenderStatus(sender, now, p, platformSends)
		v.Sender = &st
		// A block is enforced while the bulk policy applies to the
		// account; turned off, the account's senders may all send again.
		if st.Blocked && a.BulkEnabled(&p) {
			v.Allowed = false
			v.Reasons = append(v.Reasons, st.Reason)
			way := "Open a reinstatement ticket for the sender (CreateTicket with sender " + st.Address + "), or ask an admin to unblock it (UnblockSender)."
			if st.OpenTicket != "" {
				way = "Ticket " + st.OpenTicket + " asks to unblock the sender; an admin will decide it."
			}
			v.Recommendations = append(v.Recommendations, way)
		}
	}
	return v
}
