package notify

import (
	"strings"
	"testing"

	"github.com/dpmon/dpmon/monitor"
)

// Every kind has a subject of its own that names the account (and the
// sender, for a sender's block), and bodies that render.
func TestEveryKindRenders(t *testing.T) {
	for _, k := range monitor.Kinds {
		n := monitor.Notification{Kind: k, AccountID: "acme", TicketID: "tkt-1",
			Transition: monitor.Transition{AccountID: "acme", Reason: "Because.", Sender: "news@acme.example"}}
		subject := Subject(n)
		if strings.HasSuffix(subject, string(k)) || !strings.Contains(subject, "acme") {
			t.Errorf("%s: subject %q is the fallback or lacks the account", k, subject)
		}
		if (k == monitor.KindSenderBlocked || k == monitor.KindSenderUnblocked) && !strings.Contains(subject, "news@acme.example") {
			t.Errorf("%s: subject %q does not name the sender", k, subject)
		}
		if _, _, err := Bodies(n); err != nil {
			t.Errorf("%s: %v", k, err)
		}
		if p := payloadOf(n); p.Kind != string(k) || p.Sender != "news@acme.example" {
			t.Errorf("%s: payload kind %q sender %q", k, p.Kind, p.Sender)
		}
	}
}
