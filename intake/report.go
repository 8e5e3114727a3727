package intake

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// MaxReportBytes bounds the message ReadReport reads: a report and the
// message it returns are far smaller.
const MaxReportBytes = 25 << 20

// MaxReportRecipients bounds the recipients one report may name: a DSN
// of half a million tiny blocks fits in MaxReportBytes. The blocks beyond
// are counted as malformed.
const MaxReportRecipients = 1000

// ReportOptions say how a report's events find their account, in this
// order: Account; the Header of the returned message; the account a VERP
// return path carries ("bounces+ACCOUNT=...@", in the report's To,
// X-Original-To or Delivered-To, an ARF report's Original-Mail-From, or
// the Return-Path of the message a plain bounce returns).
// Whoever can mail the bounce mailbox can write a header or a VERP tag:
// where that matters, give Account, one mailbox per account.
type ReportOptions struct {
	Account string
	Header  string // default X-Dpmon-Account
	// Delayed makes a DSN's "delayed" recipient (or a plain bounce's
	// warning that delivery is still retried) a soft bounce; by default a
	// delay, which the sender still retries, tells nothing.
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
	messageID string // the returned message's, "" when the report does not include it
}

// ReadReport reads one RFC 5322 message holding a delivery status
// notification (RFC 3464) or a feedback report (RFC 5965, ARF), as a
// platform's bounce or feedback-loop mailbox receives it, into one event
// per recipient it reports. The original message's Message-ID and the
// recipient make the event id, so a report delivered twice counts once.
// A bounce that Exim, qmail or an old Sendmail wrote as plain text,
// without a report part, is read as a DSN (see readPlainBounce). now dates
// a report that carries no date.
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
		if res, ok := readPlainBounce(msg, o, now); ok {
			return res, nil
		}
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
		body := decoded(p, p.Header.Get("Content-Transfer-Encoding"))
		switch {
		case mt == want || rep.kind == "delivery-status" && mt == "message/global-delivery-status":
			tp := textproto.NewReader(bufio.NewReader(body))
			for {
				h, err := tp.ReadMIMEHeader()
				if len(h) > 0 {
					rep.fields = append(rep.fields, h)
				}
				if err != nil {
					break
				}
			}
		case returnedMessage(mt):
			h, err := textproto.NewReader(bufio.NewReader(body)).ReadMIMEHeader()
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

// returnedMessage reports whether a part of media type mt holds the
// returned message, or its header, which is all a report needs of it.
func returnedMessage(mt string) bool {
	switch mt {
	case "message/rfc822", "text/rfc822-headers", "message/rfc822-headers", "message/global", "message/global-headers":
		return true
	}
	return false
}

// decoded is a body read through its Content-Transfer-Encoding (cte). A
// multipart part has its quoted-printable decoded already; a message body
// has not.
func decoded(r io.Reader, cte string) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// dsnEvents makes a bounce of each failed recipient: the per-message
// block comes first, then one block per recipient (RFC 3464 section 2).
func (rep *report) dsnEvents(res *Result) {
	perMessage := rep.fields[0]
	recipients := 0
	for _, f := range rep.fields {
		// The address the platform sent to, before any forwarding.
		recipient := addressField(f.Get("Original-Recipient"))
		if recipient == "" {
			recipient = addressField(f.Get("Final-Recipient"))
		}
		if recipient == "" {
			if f.Get("Final-Recipient") != "" || f.Get("Original-Recipient") != "" {
				res.Malformed++
			}
			continue // the per-message block
		}
		if recipients++; recipients > MaxReportRecipients {
			res.Malformed++
			continue
		}
		action := strings.ToLower(strings.TrimSpace(f.Get("Action")))
		hint := monitor.BounceUnspecified
		switch action {
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
		diag := f.Get("Diagnostic-Code")
		if _, text, ok := strings.Cut(diag, ";"); ok {
			diag = text // "smtp; 550 ...": the type, then the reply
		}
		b := reply(0, f.Get("Status"), diag)
		b.Class = hint
		e := monitor.Event{Type: monitor.EventBounce, Recipient: recipient, Bounce: &b, OccurredAt: rep.date(f.Get("Last-Attempt-Date"))}
		// Without the returned message's id, what the report says of the
		// message and the recipient names it.
		rep.add(res, e, "", action, perMessage.Get("Original-Envelope-Id"), perMessage.Get("Reporting-Mta"),
			perMessage.Get("Arrival-Date"), f.Get("Status"), f.Get("Diagnostic-Code"), f.Get("Last-Attempt-Date"))
	}
}

// arfEvents makes the complaint (or unsubscribe, or authentication
// failure) of a feedback report, one for each recipient it names.
func (rep *report) arfEvents(res *Result) {
	f := rep.fields[0]
	feedback := strings.ToLower(strings.TrimSpace(f.Get("Feedback-Type")))
	e := monitor.Event{OccurredAt: rep.date("")}
	switch feedback {
	case "abuse", "fraud", "virus":
		e.Type = monitor.EventComplaint
		e.Complaint = &monitor.Complaint{FeedbackType: feedback, Source: oneLine(f.Get("User-Agent"), monitor.MaxSourceLen)}
	case "opt-out":
		e.Type = monitor.EventUnsubscribe
	case "auth-failure":
		// Of the sender's signing, not of a recipient: counted apart.
		e.Type = monitor.EventAuthFailure
	default:
		// not-spam undoes nothing dpmon keeps.
		res.Ignored++
		return
	}
	recipients := f.Values("Original-Rcpt-To")
	if len(recipients) == 0 {
		recipients = f.Values("Removal-Recipient")
	}
	if len(recipients) == 0 {
		recipients = []string{rep.original.Get("To")}
	}
	for i, r := range recipients {
		if i >= MaxReportRecipients {
			res.Malformed += len(recipients) - i
			break
		}
		e.Recipient = addressField(r)
		rep.add(res, e, f.Get("Original-Mail-From"), feedback, f.Get("Original-Envelope-Id"), f.Get("Arrival-Date"),
			f.Get("Reported-Domain"), f.Get("Source-Ip"))
	}
}

// add sets what every event of the report shares and files it. The id is
// the returned message's id, the recipient and what happened (a failure
// after a delay, an opt-out after a complaint, are events of their own);
// without that message id, the fields of the report that name the message
// (about) stand in for it, so that a copy of the report gives the same id.
func (rep *report) add(res *Result, e monitor.Event, returnPath, what string, about ...string) {
	e.MessageID = oneLine(rep.messageID, monitor.MaxMessageIDLen)
	parts := []string{rep.messageID, e.Recipient, rep.kind, what}
	if rep.messageID == "" {
		parts = append(parts, about...)
	}
	e.ID = eventID("mail", "", parts...)
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
	if local, _, _ := strings.Cut(addr, "@"); !strings.Contains(local, "=") {
		return ""
	}
	return TagAccount(addr)
}

// TagAccount is the account an address's +tag names, "" when it names
// none: "fbl+ACCOUNT@platform.example", or with VERP's encoded recipient
// after it, "bounces+ACCOUNT=recipient.example@platform.example".
func TagAccount(addr string) string {
	local, _, ok := strings.Cut(addr, "@")
	if !ok {
		return ""
	}
	_, tagged, ok := strings.Cut(local, "+")
	if !ok {
		return ""
	}
	acct, _, _ := strings.Cut(tagged, "=")
	if monitor.CheckID(acct) != "" {
		return ""
	}
	return acct
}

// addressField reads an address field as reports write it: "rfc822;
// jane@example.com" (or another address type, such as utf-8),
// "<jane@example.com>" or a plain address.
func addressField(s string) string {
	if _, addr, ok := strings.Cut(s, ";"); ok {
		s = addr
	}
	return plainAddress(strings.TrimSpace(s))
}

// date is when what the report tells happened: the field s when it reads
// (a DSN's Last-Attempt-Date), else the report's own Date, else now; never
// later than now. (Arrival-Date is when the returned message arrived,
// perhaps days before it failed or was reported.)
func (rep *report) date(s string) time.Time {
	t, err := mail.ParseDate(strings.TrimSpace(s))
	if err != nil {
		if t, err = rep.header.Date(); err != nil {
			return rep.now
		}
	}
	if t.After(rep.now) {
		return rep.now
	}
	return t.UTC()
}
