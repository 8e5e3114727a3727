package intake

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// MaxReportBytes bounds the message ReadReport reads: a report and the
// message it returns are far smaller.
const MaxReportBytes = 25 << 20

// ReportOptions say how a report's events find their account, in this
// order: Account; the Header of the returned message; the account a VERP
// return path carries ("bounces+ACCOUNT=...@", in the report's To,
// X-Original-To or Delivered-To, or an ARF report's Original-Mail-From).
type ReportOptions struct {
	Account string
	Header  string // default X-Dpmon-Account
	// Delayed makes a DSN's "delayed" recipient a soft bounce; by default
	// a delay, which the sender still retries, tells nothing.
	Delayed bool
}

// report is what ReadReport gathers from a message before making events.
type report struct {
	kind      string                 // "delivery-status" or "feedback-report"
	header    mail.Header            // the report's own
	fields    []textproto.MIMEHeader // DSN: per-message block, then one per recipient; ARF: one block
	original  textproto.MIMEHeader   // the returned message's header, if included
	opts      ReportOptions
	now       time.Time
	messageID string
}

// ReadReport reads one RFC 5322 message holding a delivery status
// notification (RFC 3464) or a feedback report (RFC 5965, ARF), as a
// platform's bounce or feedback-loop mailbox receives it, into one event
// per recipient it reports. The original message's Message-ID and the
// recipient make the event id, so a report delivered twice counts once.
// now dates a report that carries no date.
func ReadReport(r io.Reader, o ReportOptions, now time.Time) (Result, error) {
	if o.Header == "" {
		o.Header = "X-Dpmon-Account"
	}
	raw, err := io.ReadAll(io.LimitReader(r, MaxReportBytes+1))
	if err != nil {
		return Result{}, fmt.Errorf("report: %w", err)
	}
	if len(raw) > MaxReportBytes {
		return Result{}, fmt.Errorf("report: %w: longer than %d bytes", ErrPayload, MaxReportBytes)
	}
	if bytes.HasPrefix(raw, []byte("From ")) { // an mbox separator line
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Result{}, fmt.Errorf("report: %w: %v", ErrPayload, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["boundary"] == "" {
		return Result{}, fmt.Errorf("report: %w: not a multipart/report message", ErrPayload)
	}
	rep := report{kind: strings.ToLower(params["report-type"]), header: msg.Header, opts: o, now: now}
	if rep.kind != "delivery-status" && rep.kind != "feedback-report" {
		return Result{}, fmt.Errorf("report: %w: report-type %q is not delivery-status or feedback-report", ErrPayload, params["report-type"])
	}
	if err := rep.readParts(multipart.NewReader(msg.Body, params["boundary"])); err != nil {
		return Result{}, err
	}
	rep.messageID = strings.TrimSpace(rep.original.Get("Message-Id"))
	if rep.messageID == "" {
		rep.messageID = strings.TrimSpace(msg.Header.Get("Message-Id"))
	}
	var res Result
	if rep.kind == "delivery-status" {
		rep.dsnEvents(&res)
	} else {
		rep.arfEvents(&res)
	}
	return res, nil
}

// readParts takes the machine-readable part and the returned message's
// header from the report's parts.
func (rep *report) readParts(parts *multipart.Reader) error {
	want := "message/" + rep.kind
	for {
		p, err := parts.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil && len(rep.fields) > 0 {
			break // cut off after the report, as mailboxes cut long messages
		}
		if err != nil {
			return fmt.Errorf("report: %w: %v", ErrPayload, err)
		}
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch mt {
		case want:
			tp := textproto.NewReader(bufio.NewReader(p))
			for {
				h, err := tp.ReadMIMEHeader()
				if len(h) > 0 {
					rep.fields = append(rep.fields, h)
				}
				if err != nil {
					break
				}
			}
		case "message/rfc822", "text/rfc822-headers", "message/rfc822-headers":
			h, err := textproto.NewReader(bufio.NewReader(p)).ReadMIMEHeader()
			if len(h) > 0 || err == nil {
				rep.original = h
			}
		}
	}
	if len(rep.fields) == 0 {
		return fmt.Errorf("report: %w: no %s part", ErrPayload, want)
	}
	return nil
}

// dsnEvents makes a bounce of each failed recipient: the per-message
// block comes first, then one block per recipient (RFC 3464 section 2).
func (rep *report) dsnEvents(res *Result) {
	arrival := rep.date(rep.fields[0].Get("Arrival-Date"))
	for _, f := range rep.fields {
		recipient := addressField(f.Get("Final-Recipient"))
		if recipient == "" {
			recipient = addressField(f.Get("Original-Recipient"))
		}
		if recipient == "" {
			continue // the per-message block
		}
		hint := monitor.BounceUnspecified
		switch strings.ToLower(strings.TrimSpace(f.Get("Action"))) {
		case "failed":
		case "delayed":
			if !rep.opts.Delayed {
				res.Ignored++
				continue
			}
			hint = monitor.BounceSoft
		default: // delivered, relayed, expanded: nothing went wrong
			res.Ignored++
			continue
		}
		_, diag, _ := strings.Cut(f.Get("Diagnostic-Code"), ";")
		b := reply(0, diag)
		status, _, _ := strings.Cut(strings.TrimSpace(f.Get("Status")), " ")
		if b.EnhancedStatus == "" && (&monitor.Bounce{EnhancedStatus: status}).Validate("") == nil {
			b.EnhancedStatus = status
		}
		b.Class = hint
		at := arrival
		if last := f.Get("Last-Attempt-Date"); last != "" {
			at = rep.date(last)
		}
		rep.add(res, monitor.Event{Type: monitor.EventBounce, Recipient: recipient, Bounce: &b, OccurredAt: at}, "")
	}
}

// arfEvents makes the complaint (or unsubscribe) of a feedback report.
func (rep *report) arfEvents(res *Result) {
	f := rep.fields[0]
	feedback := strings.ToLower(strings.TrimSpace(f.Get("Feedback-Type")))
	e := monitor.Event{OccurredAt: rep.date(f.Get("Arrival-Date"))}
	if d := f.Get("Received-Date"); f.Get("Arrival-Date") == "" && d != "" {
		e.OccurredAt = rep.date(d)
	}
	switch feedback {
	case "abuse", "fraud", "virus":
		e.Type = monitor.EventComplaint
		e.Complaint = &monitor.Complaint{FeedbackType: feedback, Source: oneLine(f.Get("User-Agent"), monitor.MaxSourceLen)}
	case "opt-out":
		e.Type = monitor.EventUnsubscribe
	default:
		// not-spam undoes nothing dpmon keeps; auth-failure speaks of the
		// sender's domain, not of a recipient.
		res.Ignored++
		return
	}
	e.Recipient = addressField(f.Get("Original-Rcpt-To"))
	if e.Recipient == "" {
		e.Recipient = addressField(f.Get("Removal-Recipient"))
	}
	if e.Recipient == "" {
		e.Recipient = plainAddress(rep.original.Get("To"))
	}
	rep.add(res, e, f.Get("Original-Mail-From"))
}

// add sets what every event of the report shares and files it.
func (rep *report) add(res *Result, e monitor.Event, returnPath string) {
	e.MessageID = oneLine(rep.messageID, monitor.MaxMessageIDLen)
	// The returned message's id names it; without one, the report's date
	// at least tells two reports apart (a copy repeats it).
	date := ""
	if rep.messageID == "" {
		date = rep.header.Get("Date")
	}
	e.ID = eventID("mail", "", rep.messageID, e.Recipient, rep.kind, date)
	res.add(e, rep.account(returnPath))
}

// account finds the events' account (see ReportOptions).
func (rep *report) account(returnPath string) string {
	if rep.opts.Account != "" {
		return rep.opts.Account
	}
	if v := strings.TrimSpace(rep.original.Get(rep.opts.Header)); v != "" && monitor.CheckID(v) == "" {
		return v
	}
	for _, a := range []string{rep.header.Get("To"), rep.header.Get("X-Original-To"), rep.header.Get("Delivered-To"), returnPath} {
		if acct := verpAccount(addressField(a)); acct != "" {
			return acct
		}
	}
	return ""
}

// verpAccount is the account a VERP address carries in its local part,
// "bounces+ACCOUNT=recipient.example@platform.example", or "".
func verpAccount(addr string) string {
	local, _, ok := strings.Cut(addr, "@")
	if !ok {
		return ""
	}
	_, tagged, ok := strings.Cut(local, "+")
	if !ok {
		return ""
	}
	acct, _, ok := strings.Cut(tagged, "=")
	if !ok || monitor.CheckID(acct) != "" {
		return ""
	}
	return acct
}

// addressField reads an address field as reports write it: "rfc822;
// jane@example.com", "<jane@example.com>" or a plain address.
func addressField(s string) string {
	if typ, addr, ok := strings.Cut(s, ";"); ok && strings.EqualFold(strings.TrimSpace(typ), "rfc822") {
		s = addr
	}
	return plainAddress(strings.TrimSpace(s))
}

// date reads a report's date field; the report's own Date, else now, when
// it has none that reads.
func (rep *report) date(s string) time.Time {
	if t, err := mail.ParseDate(strings.TrimSpace(s)); err == nil {
		return t.UTC()
	}
	if t, err := rep.header.Date(); err == nil {
		return t.UTC()
	}
	return rep.now
}
