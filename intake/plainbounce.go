package intake

import (
	"bufio"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// Bounds on reading a plain bounce. No MTA writes longer lines, and
// MaxReportRecipients recipients with their replies take far fewer lines;
// the MTA's fixed sentences come first, well within maxBounceHead.
const (
	maxBounceLine     = 2048
	maxBounceLines    = 32 * MaxReportRecipients
	maxBounceHead     = 64 << 10
	maxRecipientLines = 32
	maxReasonLen      = 2 * monitor.MaxDiagnosticLen // reply cuts it to size
)

// A plain bounce is one an MTA writes as text, without the report part of
// RFC 3464: Exim always, qmail always, Sendmail before DSNs. Each writes
// fixed sentences, then the failed addresses, each with what the remote
// said, in its own layout; bounceShapes knows three. A shape is only taken
// when the header, too, is a bounce's (bounceHeader): a person's mail to
// the bounce mailbox, or a bounce quoted in it, must not count.
var bounceShapes = []struct {
	// match reports whether head, the start of the text lower-cased with
	// each run of spaces one, holds the MTA's fixed sentences, and whether
	// they tell of a delay (the MTA still retries) rather than a failure.
	match func(head string) (ok, delayed bool)
	// read takes the recipients from the text's lines.
	read func(lines []string, delayed bool) *recipients
}{
	{eximMatch, eximRecipients},
	{qmailMatch, qmailRecipients},
	{sendmailMatch, sendmailRecipients},
}

// bounceSubjects start the subjects MTAs give their bounces and warnings.
var bounceSubjects = []string{
	"mail delivery failed",                // Exim
	"failure notice",                      // qmail
	"returned mail:",                      // Sendmail
	"warning: could not send message",     // Sendmail's delay
	"undelivered mail returned to sender", // Postfix, and relays that copy it
	"delivery status notification",        // Exchange, Gmail
}

// readPlainBounce reads a plain bounce (see bounceShapes) into events made
// as dsnEvents makes a DSN's, so that the same failure reported either way
// has the same id. The returned message, which the MTA appends after a
// line of its own or attaches, gives the message id and the account.
// ok is false when the message is not one: the caller refuses it.
func readPlainBounce(msg *mail.Message, o ReportOptions, now time.Time) (res Result, ok bool) {
	if !bounceHeader(msg.Header) {
		return Result{}, false
	}
	text, attached, ok := plainText(msg)
	if !ok {
		return Result{}, false
	}
	lines, returned := splitBounce(text)
	if returned == nil {
		returned = attached
	}
	head := foldHead(lines)
	for _, shape := range bounceShapes {
		ok, delayed := shape.match(head)
		if !ok {
			continue
		}
		rs := shape.read(lines, delayed)
		if len(rs.list) == 0 {
			return Result{}, false // the sentences without the list: not a bounce we know
		}
		rep := report{kind: "delivery-status", header: msg.Header, original: returned, opts: o, now: now}
		rep.messageID = strings.TrimSpace(returned.Get("Message-Id"))
		return rep.plainEvents(rs), true
	}
	return Result{}, false
}

// plainEvents makes a bounce of each failed recipient, and of each delayed
// one when asked, as dsnEvents does.
func (rep *report) plainEvents(rs *recipients) Result {
	res := Result{Malformed: rs.more}
	for _, r := range rs.list {
		if r.addr == "" {
			res.Malformed++
			continue
		}
		action, hint := "failed", monitor.BounceUnspecified
		if r.delayed {
			if !rep.opts.Delayed {
				res.Ignored++
				continue
			}
			action, hint = "delayed", monitor.BounceSoft
		}
		b := reply(0, r.status, r.text)
		b.Class = hint
		e := monitor.Event{Type: monitor.EventBounce, Recipient: r.addr, Bounce: &b, OccurredAt: rep.date("")}
		// Without the returned message's id, the bounce's own id and date
		// name the message, as a DSN's fields do.
		rep.add(&res, e, rep.original.Get("Return-Path"), action, rep.header.Get("Message-Id"), rep.header.Get("Date"), r.text)
	}
	return res
}

// bounceHeader reports whether h is a bounce's: from the mail system
// (MAILER-DAEMON, postmaster), to the null return path, or with a subject
// MTAs give bounces.
func bounceHeader(h mail.Header) bool {
	if strings.TrimSpace(h.Get("Return-Path")) == "<>" {
		return true
	}
	for _, field := range []string{"From", "Return-Path"} {
		switch localPart(h.Get(field)) {
		case "mailer-daemon", "postmaster":
			return true
		}
	}
	subject := h.Get("Subject")
	if s, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = s
	}
	subject = strings.ToLower(strings.TrimSpace(subject))
	for _, s := range bounceSubjects {
		if strings.HasPrefix(subject, s) {
			return true
		}
	}
	return false
}

// localPart is the lower-cased local part of an address field, which a
// mail system may write without a domain ("MAILER-DAEMON").
func localPart(field string) string {
	addr := field
	if a, err := mail.ParseAddress(field); err == nil {
		addr = a.Address
	} else if words := strings.Fields(field); len(words) > 0 {
		addr = strings.Trim(words[0], "<>")
	}
	local, _, _ := strings.Cut(addr, "@")
	return strings.ToLower(local)
}

// plainText is a message's text: its body when it is text/plain (or does
// not say), else the first text/plain part of a multipart/mixed one, with
// the header of a returned message attached beside it (nil when none).
func plainText(msg *mail.Message) (text string, attached textproto.MIMEHeader, ok bool) {
	mt, params := "text/plain", map[string]string(nil)
	if ct := msg.Header.Get("Content-Type"); ct != "" {
		var err error
		if mt, params, err = mime.ParseMediaType(ct); err != nil {
			return "", nil, false
		}
	}
	if mt == "text/plain" {
		b, err := io.ReadAll(decoded(msg.Body, msg.Header.Get("Content-Transfer-Encoding")))
		return string(b), nil, err == nil
	}
	if mt != "multipart/mixed" || params["boundary"] == "" {
		return "", nil, false
	}
	parts := multipart.NewReader(msg.Body, params["boundary"])
	for !ok || attached == nil {
		p, err := parts.NextPart()
		if err != nil {
			break // the end, or cut off: what came before may do
		}
		pt := "text/plain" // RFC 2046's default
		if ct := p.Header.Get("Content-Type"); ct != "" {
			pt, _, _ = mime.ParseMediaType(ct)
		}
		body := decoded(p, p.Header.Get("Content-Transfer-Encoding"))
		switch {
		case pt == "text/plain" && !ok:
			b, err := io.ReadAll(body)
			if err != nil {
				return "", nil, false
			}
			text, ok = string(b), true
		case returnedMessage(pt) && attached == nil:
			h, err := textproto.NewReader(bufio.NewReader(body)).ReadMIMEHeader()
			if len(h) > 0 || err == nil {
				attached = h
			}
		}
	}
	return text, attached, ok
}

// copyLines start the copy of the returned message an MTA appends to its
// text (less the dashes around them, lower-cased).
var copyLines = []string{
	"this is a copy of the message",            // Exim: "including all the headers", or "'s headers"
	"below this line is a copy of the message", // qmail
	"below this line is the top of the message",
	"original message follows", // Sendmail
	"unsent message follows",
	"message header follows",
}

// splitBounce splits the text of a plain bounce into the MTA's lines (cut
// to maxBounceLine, at most maxBounceLines) and the header of the returned
// message it copies after them, nil when it has none.
func splitBounce(text string) (lines []string, returned textproto.MIMEHeader) {
	for rest := text; rest != "" && len(lines) < maxBounceLines; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSuffix(line, "\r")
		if len(line) > maxBounceLine {
			line = line[:maxBounceLine]
		}
		if copyLine(line) {
			h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(strings.TrimLeft(rest, "\r\n")))).ReadMIMEHeader()
			if len(h) > 0 || err == nil {
				returned = h
			}
			return lines, returned
		}
		lines = append(lines, line)
	}
	return lines, nil
}

// copyLine reports whether line starts the copy of the returned message.
func copyLine(line string) bool {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, "---") {
		return false
	}
	t = strings.ToLower(strings.Trim(t, "- "))
	for _, c := range copyLines {
		if strings.HasPrefix(t, c) {
			return true
		}
	}
	return false
}

// foldHead is the start of the MTA's text lower-cased, each run of spaces
// and line breaks one space: the sentences to match wrap where the MTA
// chose.
func foldHead(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		if b.Len() > maxBounceHead {
			break
		}
		for _, w := range strings.Fields(l) {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strings.ToLower(w))
		}
	}
	return b.String()
}

// plainRecipient is one recipient a plain bounce names.
type plainRecipient struct {
	addr    string   // "" when the MTA's line holds no address dpmon takes
	delayed bool     // the MTA still retries
	lines   []string // what the MTA wrote of it, trimmed
	status  string   // an enhanced status written apart from the reply, qmail's "(#5.1.1)"
	text    string   // the remote's reply, else the MTA's words
}

// recipients are a bounce's first MaxReportRecipients recipients; more
// counts the rest, which are malformed as a DSN's would be.
type recipients struct {
	list []plainRecipient
	more int
}

// add lists a recipient, or only counts it past the bound: a hostile
// bounce may name millions.
func (rs *recipients) add(addr string, delayed bool) {
	if len(rs.list) >= MaxReportRecipients {
		rs.more++
		return
	}
	rs.list = append(rs.list, plainRecipient{addr: addr, delayed: delayed})
}

// note adds a line of what the MTA wrote of the last recipient, unless
// that one was beyond the bound or was listed before since.
func (rs *recipients) note(since int, line string) {
	if rs.more > 0 || len(rs.list) <= since {
		return
	}
	r := &rs.list[len(rs.list)-1]
	if len(r.lines) < maxRecipientLines {
		r.lines = append(r.lines, line)
	}
}

// startsReply reports whether s starts with an SMTP reply code ("550 ",
// "550-5.1.1").
func startsReply(s string) bool {
	word, _, ok := leadingWord(s)
	if !ok || len(word) != 3 || !allDigits(word) {
		return false
	}
	code, _ := strconv.Atoi(word)
	return monitor.ValidReplyCode(code)
}

// cutPrefixFold is strings.CutPrefix, ignoring ASCII case.
func cutPrefixFold(s, prefix string) (after string, ok bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// joinLines joins the lines of a reply, as far as reply keeps of them.
func joinLines(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		if b.Len() > maxReasonLen {
			break
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	return b.String()
}
