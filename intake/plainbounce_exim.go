package intake

import "strings"

// eximMatch: "This message was created automatically by mail delivery
// software." then "This is a permanent error." for a failure, and "This
// is a temporary error." or "has not yet been delivered" for a delay.
func eximMatch(head string) (ok, delayed bool) {
	if !strings.Contains(head, "this message was created automatically by mail delivery software.") {
		return false, false
	}
	switch {
	case strings.Contains(head, "this is a permanent error"):
		return true, false
	case strings.Contains(head, "this is a temporary error"),
		strings.Contains(head, "has not yet been delivered to one or more of its recipients"):
		return true, true
	}
	return false, false
}

// eximRecipients reads the list after the line that ends "The following
// address(es) failed:" (or "The address to which the message has not yet
// been delivered is:"): each address indented by two spaces, then what
// happened, by four, until a line that is not indented.
func eximRecipients(lines []string, delayed bool) *recipients {
	rs := &recipients{}
	inList, since := false, 0
	for _, line := range lines {
		t := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		switch {
		case t == "":
		case indent == 0:
			inList = strings.HasSuffix(t, ":") && strings.Contains(strings.ToLower(t), "address")
			since = len(rs.list) + rs.more
		case !inList:
		case indent < 4:
			rs.add(plainAddress(t), delayed)
		default:
			rs.note(since, t)
		}
	}
	for i := range rs.list {
		eximReason(&rs.list[i])
	}
	return rs
}

// eximReason reads what Exim wrote of a recipient:
//
//	host mx.example.com [192.0.2.1]
//	SMTP error from remote mail server after RCPT TO:<jane@example.com>:
//	550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown
//
// (older Exim writes the reply after "host ... [192.0.2.1]: "; a delay
// warning starts with "Delay reason: "). The reply, from its code on, is
// the text; without one, Exim's own words are ("Unrouteable address").
// "(generated from jane@example.com)" names the address the platform sent
// to, before an alias.
func eximReason(r *plainRecipient) {
	var words, said []string
	for _, d := range r.lines {
		if rest, ok := cutPrefixFold(d, "Delay reason:"); ok {
			r.delayed, d = true, strings.TrimSpace(rest)
		}
		if rest, ok := cutPrefixFold(d, "(generated from "); ok {
			if a := plainAddress(strings.TrimSuffix(strings.TrimSpace(rest), ")")); a != "" {
				r.addr = a
			}
			continue
		}
		if strings.HasPrefix(d, "host ") {
			_, after, ok := strings.Cut(d, "]: ")
			if !ok {
				continue
			}
			d = after
		}
		if said != nil || startsReply(d) {
			said = append(said, d)
		} else {
			words = append(words, d)
		}
	}
	if said == nil {
		said = words
	}
	r.text = joinLines(said)
}
