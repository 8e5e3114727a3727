package intake

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// postmarkRecord is what dpmon reads of a Postmark webhook record (Bounce,
// SpamComplaint, Delivery, SubscriptionChange, Open, Click).
type postmarkRecord struct {
	RecordType        string
	ID                json.Number
	Type              string
	ServerID          json.Number
	MessageID         string
	MessageStream     string
	Tag               string
	Metadata          map[string]string
	Email             string // Bounce, SpamComplaint
	Recipient         string // Delivery, SubscriptionChange, Open, Click
	From              string
	Details           string
	BouncedAt         string
	DeliveredAt       string
	ChangedAt         string
	ReceivedAt        string
	SuppressSending   bool
	SuppressionReason string
}

// postmarkBounceHints is the class each Postmark bounce type stands for;
// the classifier still decides from the reply when there is one. Types
// absent here, and not handled apart, say nothing of the recipient (a
// message Postmark refused to send, an inbound error) and are ignored.
var postmarkBounceHints = map[string]monitor.BounceClass{
	"HardBounce":        monitor.BounceHard,
	"BadEmailAddress":   monitor.BounceHard,
	"SoftBounce":        monitor.BounceSoft,
	"Transient":         monitor.BounceSoft,
	"DnsError":          monitor.BounceSoft,
	"Blocked":           monitor.BounceBlock,
	"SpamNotification":  monitor.BounceBlock,
	"VirusNotification": monitor.BounceBlock,
	"DMARCPolicy":       monitor.BounceBlock,
	"AutoResponder":     monitor.BounceUndetermined,
	"Unknown":           monitor.BounceUnspecified,
}

// Postmark reads one Postmark webhook post. Its Mapping may name "server"
// (the ServerID), "message_stream", "tag" or "metadata.KEY". now dates a
// record that carries no time of its own.
func Postmark(body []byte, m Mapping, now time.Time) (Result, error) {
	var rec postmarkRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		return Result{}, fmt.Errorf("postmark: %w: %v", ErrPayload, err)
	}
	var res Result
	res.take(&rec, m, now)
	return res, nil
}

// event is the dpmon event rec stands for; ok is false when it stands for
// none.
func (rec *postmarkRecord) event(now time.Time) (e monitor.Event, ok bool) {
	e = monitor.Event{MessageID: oneLine(rec.MessageID, monitor.MaxMessageIDLen), Sender: plainAddress(rec.From)}
	at := rec.BouncedAt
	switch rec.RecordType {
	case "Bounce":
		switch rec.Type {
		case "Unsubscribe":
			e.Type = monitor.EventUnsubscribe
		case "SpamComplaint":
			e.Type, e.Complaint = monitor.EventComplaint, complaint("postmark")
		default:
			hint, known := postmarkBounceHints[rec.Type]
			if !known {
				return e, false
			}
			b := reply(0, "", rec.Details)
			b.Class = hint
			e.Type, e.Bounce = monitor.EventBounce, &b
		}
		e.Recipient = rec.Email
	case "SpamComplaint":
		e.Type, e.Complaint = monitor.EventComplaint, complaint("postmark")
		e.Recipient = rec.Email
	case "Delivery":
		e.Type, e.Recipient, at = monitor.EventDelivery, rec.Recipient, rec.DeliveredAt
	case "Open", "Click":
		e.Type, e.Recipient, at = monitor.EventOpen, rec.Recipient, rec.ReceivedAt
		if rec.RecordType == "Click" {
			e.Type = monitor.EventClick
		}
	case "SubscriptionChange":
		// The recipient's own request; a suppression for a bounce or a
		// complaint echoes the record that reported it.
		if !rec.SuppressSending || rec.SuppressionReason != "ManualSuppression" {
			return e, false
		}
		e.Type, e.Recipient, at = monitor.EventUnsubscribe, rec.Recipient, rec.ChangedAt
	default:
		return e, false
	}
	e.OccurredAt = parseTime(at, now)
	var own string
	if rec.RecordType == "Bounce" || rec.RecordType == "SpamComplaint" {
		own = rec.ID.String()
	}
	e.ID = eventID("postmark", own, rec.RecordType, rec.Type, rec.MessageID, rec.Recipient, rec.Email, at)
	return e, true
}

// field is the value of a mapped field, "" when rec has none.
func (rec *postmarkRecord) field(name string) string {
	switch name {
	case "server":
		return rec.ServerID.String()
	case "message_stream":
		return rec.MessageStream
	case "tag":
		return rec.Tag
	}
	if key, ok := strings.CutPrefix(name, "metadata."); ok {
		return rec.Metadata[key]
	}
	return ""
}

// parseTime reads an RFC 3339 time, fractions of any length included;
// now when s is empty or not one.
func parseTime(s string, now time.Time) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return now
	}
	return t
}
