package notify

import (
	"fmt"

	"github.com/dpmon/dpmon/monitor"
)

// Subject is a notification's one-line summary, for email subjects and
// chat messages.
func Subject(n monitor.Notification) string {
	a := n.AccountID
	switch n.Kind {
	case monitor.KindWarningRaised:
		return fmt.Sprintf("[dpmon] Warning for %s: act now to avoid a suspension", a)
	case monitor.KindWarningCleared:
		return fmt.Sprintf("[dpmon] Warning cleared for %s", a)
	case monitor.KindSuspended:
		return fmt.Sprintf("[dpmon] Sending suspended for %s", a)
	case monitor.KindSuspendedAgain:
		return fmt.Sprintf("[dpmon] Sending suspended again for %s during probation", a)
	case monitor.KindReinstated:
		return fmt.Sprintf("[dpmon] %s reinstated into probation", a)
	case monitor.KindProbationPassed:
		return fmt.Sprintf("[dpmon] %s passed probation", a)
	case monitor.KindTicketOpened:
		return fmt.Sprintf("[dpmon] Reinstatement ticket %s opened for %s", n.TicketID, a)
	}
	return fmt.Sprintf("[dpmon] %s: %s", a, n.Kind)
}
