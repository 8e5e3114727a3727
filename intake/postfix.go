package intake

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// MaxPostfixMessages bounds the messages a PostfixReader remembers between
// their lines. A message's lines are seconds apart unless it is deferred,
// so the bound costs only the sender of mail retried for long on a busy
// server.
const MaxPostfixMessages = 100000

// PostfixOptions say how Postfix's log becomes events.
type PostfixOptions struct {
	// Mapping's From may name "sender_domain", the domain of the envelope
	// sender (qmgr logs it as the message enters the active queue);
	// "sasl_username", the login smtpd logs as a client submits it; or
	// "header.NAME", a header of the message that cleanup logs when
	// header_checks says INFO for it (/^X-Dpmon-Account:/ INFO).
	Mapping
	// Deferred makes a deferral a soft bounce; by default a delay, which
	// Postfix still retries, tells nothing (as ReportOptions.Delayed).
	Deferred bool
}

// PostfixReader reads Postfix's log into events, one line at a time, in
// the order Postfix wrote them. A delivery agent's line says what became
// of one recipient, but only earlier lines of the same queue id say whose
// message it was: qmgr's from= (the sender), smtpd's client= (the SASL
// login) and cleanup's message-id=. The reader keeps those, for at most
// MaxPostfixMessages messages; a message is forgotten on its "removed"
// line, or, at the bound, with the oldest.
type PostfixReader struct {
	opts PostfixOptions
	// recent and older hold the messages by queue id: when recent is full
	// it becomes older, and what older held is forgotten.
	recent, older map[string]*postfixMessage
}

// postfixMessage is what earlier lines said of one queue id.
type postfixMessage struct {
	sender    string
	fromSeen  bool // qmgr logged the sender: "" is then the null sender
	sasl      string
	messageID string
	header    string // the value of the mapped header, when logged
}

// NewPostfixReader returns a reader that knows no message yet.
func NewPostfixReader(o PostfixOptions) *PostfixReader {
	return &PostfixReader{opts: o, recent: map[string]*postfixMessage{}, older: map[string]*postfixMessage{}}
}

// postfixAgents are the programs that log a recipient's fate in a "to="
// line: the delivery agents, and qmgr, which defers a recipient without
// calling one while its destination is known to be down.
var postfixAgents = map[string]bool{
	"smtp": true, "lmtp": true, "local": true, "virtual": true, "pipe": true, "error": true, "retry": true, "qmgr": true,
}

// Line reads one line of the log. A delivery agent's line of a message
// sent, bounced or (with Deferred) deferred is an event (ok), whose
// AccountID is "" when the mapping gives none. Any other line, of Postfix
// or not, is none (ok false), and an error wrapping ErrPayload says that a
// delivery line cannot be read. now is the time the line is read: a
// syslog timestamp has no year, and no time zone but now's.
func (r *PostfixReader) Line(line string, now time.Time) (e monitor.Event, ok bool, err error) {
	sl, ok := splitSyslog(line)
	if !ok {
		return e, false, nil
	}
	_, agent, hasPrefix := strings.Cut(sl.program, "/")
	if i := strings.LastIndexByte(agent, '/'); i >= 0 {
		agent = agent[i+1:] // a named service: postfix/submission/smtpd
	}
	queueID, rest, found := strings.Cut(sl.text, ": ")
	if !hasPrefix || !found || !isQueueID(queueID) {
		return e, false, nil
	}
	switch {
	case rest == "removed":
		delete(r.recent, queueID)
		delete(r.older, queueID)
	case agent == "qmgr" && strings.HasPrefix(rest, "from=<"):
		m := r.message(queueID)
		sender, _, _ := strings.Cut(rest[len("from=<"):], ">")
		// Copied, and bounded: kept for as long as the message, it must
		// not hold on to the whole line.
		m.sender, m.fromSeen = strings.Clone(oneLineCut(sender, 254)), true // 254: an address's most
	case agent == "smtpd" && strings.HasPrefix(rest, "client="):
		if user := postfixField(rest, "sasl_username"); user != "" {
			r.message(queueID).sasl = strings.Clone(oneLineCut(user, monitor.MaxIDLen))
		}
	case agent == "cleanup" && strings.HasPrefix(rest, "info: header "):
		if name, ok := strings.CutPrefix(r.opts.From, "header."); ok {
			if v, found := loggedHeader(rest[len("info: header "):], name); found {
				r.message(queueID).header = strings.Clone(oneLineCut(v, monitor.MaxIDLen))
			}
		}
	case agent == "cleanup" && strings.HasPrefix(rest, "message-id="):
		r.message(queueID).messageID = oneLine(rest[len("message-id="):], monitor.MaxMessageIDLen)
	case postfixAgents[agent] && strings.HasPrefix(rest, "to=<"):
		return r.delivery(queueID, rest, sl, now)
	}
	return e, false, nil
}

// delivery reads the "to=" line of queueID: "to=<rcpt>, [orig_to=<..>,]
// relay=.., delay=.., delays=.., dsn=X.Y.Z, status=STATUS (text)".
func (r *PostfixReader) delivery(queueID, rest string, sl syslogLine, now time.Time) (e monitor.Event, ok bool, err error) {
	rcpt, fields, found := strings.Cut(rest[len("to=<"):], ">")
	if !found {
		return e, false, fmt.Errorf("postfix: %w: to=<%s has no end", ErrPayload, oneLine(rcpt, 64))
	}
	fields, tail, found := strings.Cut(fields, ", status=")
	if !found {
		return e, false, fmt.Errorf("postfix: %w: delivery line without status", ErrPayload)
	}
	status, text, _ := strings.Cut(tail, " ")
	switch {
	case status == "deferred" && !r.opts.Deferred:
		return e, false, nil
	case status != "sent" && status != "bounced" && status != "deferred":
		return e, false, nil // "deliverable" and "undeliverable" answer address verification probes
	}
	at, ok := syslogTime(sl.stamp, now)
	if !ok {
		return e, false, fmt.Errorf("postfix: %w: timestamp %q", ErrPayload, oneLine(sl.stamp, 64))
	}
	if reason := monitor.CheckAddress(rcpt); reason != "" {
		return e, false, fmt.Errorf("postfix: %w: recipient %s", ErrPayload, reason)
	}
	m := r.recent[queueID]
	if m == nil {
		m = r.older[queueID]
	}
	if m == nil {
		m = &postfixMessage{}
	}
	if m.fromSeen && m.sender == "" {
		return e, false, nil // Postfix's own notice (a bounce it returns), not a sender's mail
	}
	if status == "sent" && loopbackRelay(postfixField(fields, "relay")) {
		return e, false, nil // handed to a content filter, which queues it again
	}
	e = monitor.Event{Recipient: rcpt, Sender: envelopeSender(m.sender), OccurredAt: at, MessageID: m.messageID}
	// The line's time too: a short queue id comes back within days, and
	// a line read again (after a restart) keeps its time.
	parts := []string{queueID, rcpt, status, sl.stamp}
	switch status {
	case "sent":
		e.Type = monitor.EventDelivery
	default:
		text = strings.TrimSuffix(strings.TrimPrefix(text, "("), ")")
		b := reply(0, postfixField(fields, "dsn"), remoteReply(text))
		b.Class = monitor.BounceHard
		if status == "deferred" {
			// Postfix logs a deferral at each attempt: each is an event.
			b.Class = monitor.BounceSoft
		}
		e.Type, e.Bounce = monitor.EventBounce, &b
	}
	e.ID = eventID("postfix", "", parts...)
	e.AccountID = r.opts.account(func(field string) string {
		switch field {
		case "sender_domain":
			if _, domain, found := strings.Cut(e.Sender, "@"); found {
				return strings.ToLower(domain)
			}
		case "sasl_username":
			return m.sasl
		}
		if strings.HasPrefix(field, "header.") {
			return m.header
		}
		return ""
	})
	return e, true, nil
}

// message returns what is known of queueID, making room for it.
func (r *PostfixReader) message(queueID string) *postfixMessage {
	if m := r.recent[queueID]; m != nil {
		return m
	}
	m := r.older[queueID]
	if m == nil {
		m = &postfixMessage{}
	}
	delete(r.older, queueID)
	queueID = strings.Clone(queueID) // a key of the map: not the line it came in
	if len(r.recent) >= MaxPostfixMessages/2 {
		r.older, r.recent = r.recent, make(map[string]*postfixMessage, len(r.recent))
	}
	r.recent[queueID] = m
	return m
}

// remoteReply is the remote server's reply quoted in Postfix's text
// ("host mx.example.com[192.0.2.1] said: 550 5.1.1 ..."), or the text
// itself when it quotes none (a local agent's "unknown user: ...").
func remoteReply(text string) string {
	for _, mark := range []string{" said: ", " refused to talk to me: "} {
		if _, after, found := strings.Cut(text, mark); found {
			return after
		}
	}
	return text
}

// postfixField is the value of "name=value" among the comma-separated
// fields of a line, "" when it has none.
func postfixField(fields, name string) string {
	for f := range strings.SplitSeq(fields, ", ") {
		if v, found := strings.CutPrefix(f, name+"="); found {
			return v
		}
	}
	return ""
}

// loopbackRelay says whether relay ("name[address]:port") is on this
// host: a content filter, not the recipient's server.
func loopbackRelay(relay string) bool {
	_, addr, found := strings.Cut(relay, "[")
	addr, _, closed := strings.Cut(addr, "]")
	if !found || !closed {
		return false
	}
	ip, err := netip.ParseAddr(strings.TrimPrefix(addr, "IPv6:"))
	return err == nil && ip.IsLoopback()
}

// isQueueID says whether s can be a Postfix queue id: short ones are hex,
// long ones (enable_long_queue_ids) letters and digits.
func isQueueID(s string) bool {
	if len(s) < 5 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// syslogLine is a line as syslog (or Postfix's own maillog_file) writes
// it: "STAMP HOST PROGRAM[PID]: TEXT".
type syslogLine struct {
	stamp   string // as logged, one space between its words
	program string // without the pid
	text    string
}

// splitSyslog splits a line into its parts; ok is false when it has not
// their shape. The stamp is an RFC 3339 one ("2026-12-03T10:15:02.123456
// +00:00", from rsyslog's high-precision format or journalctl -o
// short-iso) or the traditional "Dec  3 10:15:02", perhaps with
// fractions of a second.
func splitSyslog(line string) (sl syslogLine, ok bool) {
	rest := line
	if line != "" && '0' <= line[0] && line[0] <= '9' {
		sl.stamp, rest = cutWord(rest)
	} else {
		month, r := cutWord(rest)
		day, r := cutWord(r)
		clock, r := cutWord(r)
		sl.stamp, rest = month+" "+day+" "+clock, r
	}
	_, rest = cutWord(rest) // the host
	tag, text, found := strings.Cut(strings.TrimLeft(rest, " "), ": ")
	if !found || tag == "" || strings.ContainsAny(tag, " \t") {
		return sl, false
	}
	if i := strings.IndexByte(tag, '['); i >= 0 && strings.HasSuffix(tag, "]") {
		tag = tag[:i]
	}
	sl.program, sl.text = tag, text
	return sl, true
}

// cutWord returns the first word of s and what follows it.
func cutWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " ")
	word, rest, _ = strings.Cut(s, " ")
	return word, rest
}

// syslogTime reads a line's stamp. A traditional one has neither year
// nor zone: it is in now's zone, and in now's year unless that puts it
// more than a day ahead of now (a line of December read in January).
func syslogTime(stamp string, now time.Time) (time.Time, bool) {
	if stamp != "" && '0' <= stamp[0] && stamp[0] <= '9' {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
			if t, err := time.Parse(layout, stamp); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("Jan 2 15:04:05", stamp, now.Location())
	if err != nil {
		return time.Time{}, false
	}
	in := func(year int) time.Time {
		return time.Date(year, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), now.Location())
	}
	if at := in(now.Year()); !at.After(now.Add(24 * time.Hour)) {
		return at, true
	}
	return in(now.Year() - 1), true
}

// oneLineCut is s when it is at most n bytes, else "" (a field that long
// is no address or login, and must not be cut into another one).
func oneLineCut(s string, n int) string {
	if len(s) > n {
		return ""
	}
	return s
}

// loggedHeader reads cleanup's INFO line of a header, "NAME: VALUE from
// HOST[ADDR]; from=<...> to=<...> proto=... helo=<...>", and returns the
// value when the header is name (any case).
func loggedHeader(s, name string) (string, bool) {
	h, rest, ok := strings.Cut(s, ":")
	if !ok || !strings.EqualFold(strings.TrimSpace(h), name) {
		return "", false
	}
	if i := strings.LastIndex(rest, "; from=<"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, " from "); i >= 0 {
		rest = rest[:i]
	}
	return strings.TrimSpace(rest), true
}
