package monitor

import "time"

// Dormant reports whether nothing about the account can change with time
// alone: its phase waits for no deadline (healthy, or suspended until an
// admin acts), every count has left its windows and reputation days, and it
// tracks no sender address. Judged at any later instant it stays as it is
// until an event or a call changes it, so a store need not keep it in
// memory, nor judge it on its sweeps.
func (a *Account) Dormant(now time.Time, p Policy) bool {
	switch {
	case a.State.Phase != PhaseHealthy && a.State.Phase != PhaseSuspended,
		a.ReputationLow, a.tracks != nil:
		return false
	case !a.ring.empty(bucketOf(now, p.Bucket)):
		return false
	case a.rep.head != 0 && now.UnixNano()/int64(oneDay)-int64(a.rep.head) < int64(p.Reputation.Days):
		return false
	}
	return true
}
