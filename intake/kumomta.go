package intake

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// KumoMTAOptions say how KumoMTA's log records become events.
type KumoMTAOptions struct {
	// Mapping's From may name "tenant" or "campaign": the message's meta
	// value of that name, else that part of its queue name
	// ("campaign:tenant@domain"); or "meta.KEY", another meta value the
	// logger records. A Feedback record is mapped first by the trace
	// KumoMTA decodes from the reported message (its supplemental_trace).
	Mapping
	// Deferred makes a TransientFailure a soft bounce; by default a
	// failure KumoMTA still retries tells nothing (as ReportOptions.Delayed).
	Deferred bool
}

// kumoRecord is what dpmon reads of a KumoMTA log record.
type kumoRecord struct {
	Type      string  `json:"type"`
	ID        string  `json:"id"`
	Sender    string  `json:"sender"`
	Recipient string  `json:"recipient"`
	Queue     string  `json:"queue"`
	Timestamp float64 `json:"timestamp"`
	Response  struct {
		Code         int `json:"code"`
		EnhancedCode *struct {
			Class   int `json:"class"`
			Subject int `json:"subject"`
			Detail  int `json:"detail"`
		} `json:"enhanced_code"`
		Content string `json:"content"`
	} `json:"response"`
	FeedbackReport *kumoFeedback              `json:"feedback_report"`
	Meta           map[string]json.RawMessage `json:"meta"`
	Headers        map[string]json.RawMessage `json:"headers"`
}

// kumoFeedback is what dpmon reads of the ARF report of a Feedback record.
type kumoFeedback struct {
	FeedbackType      string                     `json:"feedback_type"`
	UserAgent         string                     `json:"user_agent"`
	OriginalMailFrom  string                     `json:"original_mail_from"`
	OriginalRcptTo    []string                   `json:"original_rcpto_to"`
	Extensions        map[string][]string        `json:"extensions"`
	SupplementalTrace map[string]json.RawMessage `json:"supplemental_trace"`
}

// KumoMTALine reads one line of KumoMTA's log, a JSON log record. A
// Delivery, a Bounce or OOB (a bounce that came back by mail), a
// TransientFailure (with Deferred) and a Feedback report of a complaint
// or an opt-out are an event (ok), whose AccountID is "" when the mapping
// gives none. Any other record (Reception, Expiration, AdminBounce, a
// not-spam report, ...) is none (ok false), and an error wrapping
// ErrPayload says that the line cannot be read. now dates a record
// without a timestamp.
func KumoMTALine(line string, o KumoMTAOptions, now time.Time) (e monitor.Event, ok bool, err error) {
	var rec kumoRecord
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		return e, false, fmt.Errorf("kumomta: %w: %v", ErrPayload, err)
	}
	if rec.Type == "" || rec.ID == "" {
		return e, false, fmt.Errorf("kumomta: %w: a log record has a type and an id", ErrPayload)
	}
	e = monitor.Event{Recipient: rec.Recipient, Sender: envelopeSender(rec.Sender), OccurredAt: unixTime(rec.Timestamp, now),
		MessageID: oneLine(rec.header("Message-ID"), monitor.MaxMessageIDLen)}
	var instant string // of a failure KumoMTA logs at each attempt
	switch rec.Type {
	case "Delivery":
		e.Type = monitor.EventDelivery
	case "Bounce", "OOB":
		e.Type, e.Bounce = monitor.EventBounce, rec.bounce(monitor.BounceHard)
	case "TransientFailure":
		if !o.Deferred {
			return e, false, nil
		}
		e.Type, e.Bounce = monitor.EventBounce, rec.bounce(monitor.BounceSoft)
		instant = strconv.FormatFloat(rec.Timestamp, 'f', -1, 64)
	case "Feedback":
		fb := rec.FeedbackReport
		if fb == nil {
			return e, false, fmt.Errorf("kumomta: %w: Feedback record without feedback_report", ErrPayload)
		}
		switch typ := strings.ToLower(strings.TrimSpace(fb.FeedbackType)); typ {
		case "abuse", "fraud", "virus":
			source := oneLine(fb.UserAgent, monitor.MaxSourceLen)
			if source == "" {
				source = "kumomta"
			}
			e.Type, e.Complaint = monitor.EventComplaint, &monitor.Complaint{FeedbackType: typ, Source: source}
		case "opt-out":
			e.Type = monitor.EventUnsubscribe
		default:
			return e, false, nil // not-spam undoes nothing dpmon keeps
		}
		// The record's own envelope is the report's, sent to the
		// feedback-loop mailbox: the report names the message's.
		e.Recipient, e.Sender = fb.recipient(), envelopeSender(fb.OriginalMailFrom)
	default:
		return e, false, nil
	}
	if reason := monitor.CheckAddress(e.Recipient); reason != "" {
		return e, false, fmt.Errorf("kumomta: %w: %s record: recipient %s", ErrPayload, oneLine(rec.Type, 32), reason)
	}
	e.ID = eventID("kumomta", "", rec.ID, e.Recipient, rec.Type, instant)
	e.AccountID = o.account(rec.field)
	return e, true, nil
}

// bounce is the peer's response as a bounce, with the class hint the
// record type gives unless the code says a temporary failure.
func (rec *kumoRecord) bounce(class monitor.BounceClass) *monitor.Bounce {
	r := rec.Response
	status := ""
	if c := r.EnhancedCode; c != nil {
		status = fmt.Sprintf("%d.%d.%d", c.Class, c.Subject, c.Detail)
	}
	b := reply(r.Code, status, r.Content)
	if b.SMTPCode/100 == 4 {
		class = monitor.BounceSoft
	}
	b.Class = class
	return &b
}

// header is the value of a message header the logger records, "" when
// it records none.
func (rec *kumoRecord) header(name string) string {
	for k, v := range rec.Headers {
		if strings.EqualFold(k, name) {
			return jsonScalar(v)
		}
	}
	return ""
}

// field is the value of a mapped field, "" when rec has none.
func (rec *kumoRecord) field(name string) string {
	key := strings.TrimPrefix(name, "meta.")
	if fb := rec.FeedbackReport; fb != nil {
		if v := jsonScalar(fb.SupplementalTrace[key]); v != "" {
			return v
		}
	}
	if v := jsonScalar(rec.Meta[key]); v != "" {
		return v
	}
	campaign, tenant := kumoQueue(rec.Queue)
	switch name {
	case "tenant":
		return tenant
	case "campaign":
		return campaign
	}
	return ""
}

// recipient is the recipient of the reported message: the one KumoMTA's
// trace header names, else the report's Original-Rcpt-To, else its
// Removal-Recipient.
func (fb *kumoFeedback) recipient() string {
	if r := jsonScalar(fb.SupplementalTrace["recipient"]); r != "" {
		return bareAddress(r)
	}
	for _, list := range [][]string{fb.OriginalRcptTo, fb.Extensions["removal-recipient"]} {
		if len(list) > 0 {
			return bareAddress(list[0])
		}
	}
	return ""
}

// kumoQueue splits a queue name, "[campaign:][tenant@]domain[!routing]",
// into its campaign and tenant ("" when it names none).
func kumoQueue(queue string) (campaign, tenant string) {
	queue, _, _ = strings.Cut(queue, "!")
	i := strings.LastIndexByte(queue, '@')
	if i < 0 {
		return "", ""
	}
	if campaign, tenant, found := strings.Cut(queue[:i], ":"); found {
		return campaign, tenant
	}
	return "", queue[:i]
}

// bareAddress is an envelope address without its angle brackets.
func bareAddress(s string) string {
	s = strings.TrimSpace(s)
	return strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
}

// envelopeSender is a sender address as an event takes it: "" for the
// null sender and for one dpmon would refuse.
func envelopeSender(s string) string {
	if s = bareAddress(s); monitor.CheckAddress(s) != "" {
		return ""
	}
	return s
}
