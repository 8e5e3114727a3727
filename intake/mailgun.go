package intake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// mailgunPost is what dpmon reads of a Mailgun webhook post (the
// "event-data" form). Its "signature" object is the handler's to check.
type mailgunPost struct {
	EventData *mailgunEvent `json:"event-data"`
}

type mailgunEvent struct {
	Event         string                     `json:"event"`
	ID            string                     `json:"id"`
	Timestamp     float64                    `json:"timestamp"`
	Recipient     string                     `json:"recipient"`
	Severity      string                     `json:"severity"`
	Reason        string                     `json:"reason"`
	Tags          []string                   `json:"tags"`
	UserVariables map[string]json.RawMessage `json:"user-variables"`
	Envelope      struct {
		Sender string `json:"sender"`
	} `json:"envelope"`
	Message struct {
		Headers struct {
			MessageID string `json:"message-id"`
			From      string `json:"from"`
		} `json:"headers"`
	} `json:"message"`
	DeliveryStatus struct {
		Code        int    `json:"code"`
		Message     string `json:"message"`
		Description string `json:"description"`
	} `json:"delivery-status"`
}

// Mailgun reads one Mailgun webhook post. Its Mapping may name "tag" (the
// event's first tag) or "user-variables.KEY". now dates an event that
// carries no time of its own.
func Mailgun(body []byte, m Mapping, now time.Time) (Result, error) {
	var post mailgunPost
	if err := json.Unmarshal(body, &post); err != nil {
		return Result{}, fmt.Errorf("mailgun: %w: %v", ErrPayload, err)
	}
	if post.EventData == nil {
		return Result{}, fmt.Errorf("mailgun: %w: no event-data", ErrPayload)
	}
	var res Result
	res.take(post.EventData, m, now)
	return res, nil
}

// mailgunKinds are the Mailgun events that are one dpmon event type as
// they are.
var mailgunKinds = map[string]monitor.EventType{
	"accepted": monitor.EventSend, "delivered": monitor.EventDelivery,
	"unsubscribed": monitor.EventUnsubscribe, "opened": monitor.EventOpen, "clicked": monitor.EventClick,
}

// event is the dpmon event ev stands for; ok is false when it stands for
// none: a message Mailgun refused or held, or one it did not send because
// its own suppression list already holds the recipient (reported when the
// address was first suppressed).
func (ev *mailgunEvent) event(now time.Time) (e monitor.Event, ok bool) {
	h := ev.Message.Headers
	e = monitor.Event{Recipient: ev.Recipient, MessageID: oneLine(h.MessageID, monitor.MaxMessageIDLen), Sender: plainAddress(ev.Envelope.Sender)}
	if e.Sender == "" {
		e.Sender = plainAddress(h.From)
	}
	switch typ, plain := mailgunKinds[ev.Event]; {
	case plain:
		e.Type = typ
	case ev.Event == "failed":
		if strings.HasPrefix(ev.Reason, "suppress-") || ev.Reason == "old" {
			return e, false
		}
		ds := ev.DeliveryStatus
		text := ds.Message
		if text == "" {
			text = ds.Description
		}
		b := reply(ds.Code, "", text)
		b.Class = monitor.BounceSoft
		if ev.Severity == "permanent" {
			b.Class = monitor.BounceHard
		}
		e.Type, e.Bounce = monitor.EventBounce, &b
	case ev.Event == "complained":
		e.Type, e.Complaint = monitor.EventComplaint, complaint("mailgun")
	default:
		return e, false
	}
	e.OccurredAt = unixTime(ev.Timestamp, now)
	// Mailgun's ids are unique within a day, and dpmon dedupes over
	// eight: the time, which a retry repeats, makes them unique for good.
	ts := strconv.FormatFloat(ev.Timestamp, 'f', -1, 64)
	own := ""
	if ev.ID != "" {
		own = ev.ID + "/" + ts
	}
	e.ID = eventID("mailgun", own, ev.Event, h.MessageID, ev.Recipient, ts)
	return e, true
}

// field is the value of a mapped field, "" when ev has none.
func (ev *mailgunEvent) field(name string) string {
	if name == "tag" {
		if len(ev.Tags) > 0 {
			return ev.Tags[0]
		}
		return ""
	}
	key, ok := strings.CutPrefix(name, "user-variables.")
	if !ok {
		return ""
	}
	return jsonScalar(ev.UserVariables[key])
}
