package intake

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// SNSMessage is an Amazon SNS HTTP(S) delivery: a notification, or the
// confirmation of a subscription (SubscribeURL, Token). The handler checks
// its signature over these fields before reading Message.
type SNSMessage struct {
	Type             string
	MessageID        string `json:"MessageId"`
	TopicArn         string
	Subject          string
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
	SubscribeURL     string
	UnsubscribeURL   string
	Token            string
}

// ReadSNS reads an SNS delivery.
func ReadSNS(body []byte) (SNSMessage, error) {
	var msg SNSMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return SNSMessage{}, fmt.Errorf("sns: %w: %v", ErrPayload, err)
	}
	if msg.Type == "" {
		return SNSMessage{}, fmt.Errorf("sns: %w: no Type", ErrPayload)
	}
	return msg, nil
}

// sesNotification is what dpmon reads of an Amazon SES notification, in
// the notification form (notificationType) or the event publishing form
// (eventType).
type sesNotification struct {
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Mail             struct {
		MessageID   string              `json:"messageId"`
		Timestamp   string              `json:"timestamp"`
		Source      string              `json:"source"`
		Destination []string            `json:"destination"`
		Tags        map[string][]string `json:"tags"`
		Headers     []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
	} `json:"mail"`
	Bounce *struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		FeedbackID        string `json:"feedbackId"`
		Timestamp         string `json:"timestamp"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		FeedbackID            string `json:"feedbackId"`
		Timestamp             string `json:"timestamp"`
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
		ComplainedRecipients  []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
	Delivery *struct {
		Timestamp  string   `json:"timestamp"`
		Recipients []string `json:"recipients"`
	} `json:"delivery"`
}

// SES reads one Amazon SES notification (an SNSMessage's Message): one
// event per recipient it names. Its Mapping may name "configuration_set"
// (the ses:configuration-set tag of event publishing), "tag.NAME" (a
// message tag) or "header.NAME" (a header of the message, as SES includes
// them). now dates what carries no time.
func SES(notification []byte, m Mapping, now time.Time) (Result, error) {
	var n sesNotification
	if err := json.Unmarshal(notification, &n); err != nil {
		return Result{}, fmt.Errorf("ses: %w: %v", ErrPayload, err)
	}
	kind := n.NotificationType
	if kind == "" {
		kind = n.EventType
	}
	account := m.account(n.field)
	var res Result
	add := func(e monitor.Event, at, feedbackID string) {
		e.MessageID = oneLine(n.Mail.MessageID, monitor.MaxMessageIDLen)
		e.Sender = plainAddress(n.Mail.Source)
		e.OccurredAt = parseTime(at, parseTime(n.Mail.Timestamp, now))
		// A notification names several recipients under one feedback id;
		// without one, a message may bounce twice (for now, then for
		// good), at two instants.
		own := feedbackID + "/" + e.Recipient + "/" + kind
		if feedbackID == "" {
			own = n.Mail.MessageID + "/" + e.Recipient + "/" + kind + "/" + at
		}
		e.ID = eventID("ses", own, n.Mail.MessageID, e.Recipient, kind, at)
		res.add(e, account)
	}
	switch {
	case kind == "Bounce" && n.Bounce != nil:
		b := n.Bounce
		hint, ok := sesBounceHint(b.BounceType, b.BounceSubType)
		if !ok {
			res.Ignored += max(1, len(b.BouncedRecipients))
			break
		}
		for _, r := range b.BouncedRecipients {
			bounce := reply(0, r.Status, r.DiagnosticCode)
			bounce.Class = hint
			add(monitor.Event{Type: monitor.EventBounce, Recipient: r.EmailAddress, Bounce: &bounce}, b.Timestamp, b.FeedbackID)
		}
	case kind == "Complaint" && n.Complaint != nil:
		c := n.Complaint
		feedback := c.ComplaintFeedbackType
		if feedback == "not-spam" {
			res.Ignored += max(1, len(c.ComplainedRecipients))
			break
		}
		if feedback == "" {
			feedback = "abuse"
		}
		for _, r := range c.ComplainedRecipients {
			cp := complaint("ses")
			cp.FeedbackType = oneLine(feedback, monitor.MaxFeedbackTypeLen)
			add(monitor.Event{Type: monitor.EventComplaint, Recipient: r.EmailAddress, Complaint: cp}, c.Timestamp, c.FeedbackID)
		}
	case kind == "Delivery" && n.Delivery != nil:
		for _, r := range n.Delivery.Recipients {
			add(monitor.Event{Type: monitor.EventDelivery, Recipient: r}, n.Delivery.Timestamp, "")
		}
	case kind == "Send":
		for _, r := range n.Mail.Destination {
			if a := plainAddress(r); a != "" {
				r = a // a destination may carry a display name
			}
			add(monitor.Event{Type: monitor.EventSend, Recipient: r}, n.Mail.Timestamp, "")
		}
	default:
		// A message SES refused (Reject), a delay it retries, opens and
		// clicks it cannot tell apart by recipient: nothing to count.
		res.Ignored++
	}
	return res, nil
}

// sesBounceHint is the class SES's bounce type stands for; ok is false for
// an address SES did not try because a suppression list holds it.
func sesBounceHint(typ, subType string) (hint monitor.BounceClass, ok bool) {
	switch {
	case subType == "Suppressed" || subType == "OnAccountSuppressionList":
		return 0, false
	case subType == "ContentRejected" || subType == "AttachmentRejected":
		return monitor.BounceBlock, true
	case typ == "Permanent":
		return monitor.BounceHard, true
	case typ == "Transient":
		return monitor.BounceSoft, true
	}
	return monitor.BounceUnspecified, true
}

// field is the value of a mapped field, "" when n has none.
func (n *sesNotification) field(name string) string {
	first := func(vs []string) string {
		if len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	if name == "configuration_set" {
		return first(n.Mail.Tags["ses:configuration-set"])
	}
	if tag, ok := strings.CutPrefix(name, "tag."); ok {
		return first(n.Mail.Tags[tag])
	}
	if header, ok := strings.CutPrefix(name, "header."); ok {
		for _, h := range n.Mail.Headers {
			if strings.EqualFold(h.Name, header) {
				return h.Value
			}
		}
	}
	return ""
}
