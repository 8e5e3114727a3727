package intake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// sendGridEvent is what dpmon reads of one event of a SendGrid Event
// Webhook post, which is an array of them.
type sendGridEvent struct {
	Event     string          `json:"event"`
	EventID   string          `json:"sg_event_id"`
	Email     string          `json:"email"`
	Timestamp float64         `json:"timestamp"`
	SMTPID    string          `json:"smtp-id"`
	Type      string          `json:"type"`     // bounce: "bounce" or "blocked"
	Status    string          `json:"status"`   // bounce: the enhanced status
	Reason    string          `json:"reason"`   // bounce: the remote's reply
	Response  string          `json:"response"` // deferred, delivered: the remote's reply
	Category  json.RawMessage `json:"category"` // a string or an array of them
	raw       json.RawMessage // the whole event, for custom arguments
}

// SendGrid reads one SendGrid Event Webhook post: an array of events,
// batched by SendGrid. Its Mapping may name "category" (the event's first
// category) or "custom_args.KEY" (a custom argument of the message, which
// SendGrid posts among the event's own fields). now dates an event that
// carries no time.
func SendGrid(body []byte, m Mapping, now time.Time) (Result, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return Result{}, fmt.Errorf("sendgrid: %w: %v", ErrPayload, err)
	}
	var res Result
	for _, raw := range raws {
		// One event SendGrid wrote oddly must not have the whole batch
		// refused, and so retried, for ever.
		ev := sendGridEvent{raw: raw}
		if err := json.Unmarshal(raw, &ev); err != nil {
			res.Malformed++
			continue
		}
		res.take(&ev, m, now)
	}
	return res, nil
}

// sendGridKinds are the SendGrid events that are one dpmon event type as
// they are.
var sendGridKinds = map[string]monitor.EventType{
	"processed": monitor.EventSend, "delivered": monitor.EventDelivery,
	"unsubscribe": monitor.EventUnsubscribe, "group_unsubscribe": monitor.EventUnsubscribe,
	"open": monitor.EventOpen, "click": monitor.EventClick,
}

// event is the dpmon event ev stands for; ok is false when it stands for
// none: a message SendGrid dropped (its own suppression, or an address it
// would not try) was never offered to a remote server, and a
// resubscription undoes nothing dpmon keeps.
func (ev *sendGridEvent) event(now time.Time) (e monitor.Event, ok bool) {
	e = monitor.Event{Recipient: ev.Email, MessageID: oneLine(ev.SMTPID, monitor.MaxMessageIDLen)}
	switch typ, plain := sendGridKinds[ev.Event]; {
	case plain:
		e.Type = typ
	case ev.Event == "bounce" || ev.Event == "deferred":
		text, hint := ev.Reason, monitor.BounceHard
		switch {
		case ev.Event == "deferred":
			text, hint = ev.Response, monitor.BounceSoft
		case ev.Type == "blocked":
			hint = monitor.BounceBlock
		}
		b := reply(0, ev.Status, text)
		b.Class = hint
		e.Type, e.Bounce = monitor.EventBounce, &b
	case ev.Event == "spamreport":
		e.Type, e.Complaint = monitor.EventComplaint, complaint("sendgrid")
	default:
		return e, false
	}
	e.OccurredAt = unixTime(ev.Timestamp, now)
	e.ID = eventID("sendgrid", ev.EventID, ev.Event, ev.SMTPID, ev.Email, strconv.FormatFloat(ev.Timestamp, 'f', -1, 64))
	return e, true
}

// field is the value of a mapped field, "" when ev has none.
func (ev *sendGridEvent) field(name string) string {
	if name == "category" {
		var one string
		if json.Unmarshal(ev.Category, &one) == nil {
			return one
		}
		var many []string
		if json.Unmarshal(ev.Category, &many) == nil && len(many) > 0 {
			return many[0]
		}
		return ""
	}
	key, ok := strings.CutPrefix(name, "custom_args.")
	if !ok {
		return ""
	}
	var all map[string]json.RawMessage
	if json.Unmarshal(ev.raw, &all) != nil {
		return ""
	}
	return jsonScalar(all[key])
}

// jsonScalar is a JSON string's or number's text, "" for anything else.
func jsonScalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
