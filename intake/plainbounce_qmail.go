package intake

import (
	"strings"

	"github.com/dpmon/dpmon/monitor"
)

// qmailMatch: "Hi. This is the qmail-send program at ...", then "I'm
// afraid I wasn't able to deliver your message to the following
// addresses." for a failure, or a delay notice ("has not been delivered
// yet", "I'll keep trying") that patched qmails send.
func qmailMatch(head string) (ok, delayed bool) {
	if !strings.Contains(head, "this is the qmail-send program at") {
		return false, false
	}
	switch {
	case strings.Contains(head, "has not been delivered yet"), strings.Contains(head, "i'll keep trying"):
		return true, true
	case strings.Contains(head, "wasn't able to deliver your message to the following addresses"):
		return true, false
	}
	return false, false
}

// qmailRecipients reads qmail's blocks: "<jane@example.com>:" alone on a
// line, then what happened, until a blank line.
func qmailRecipients(lines []string, delayed bool) *recipients {
	rs := &recipients{}
	in := false
	for _, line := range lines {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, "<") && strings.HasSuffix(t, ">:"):
			rs.add(plainAddress(t[:len(t)-1]), delayed)
			in = true
		case t == "":
			in = false
		case in:
			rs.note(0, t)
		}
	}
	for i := range rs.list {
		qmailReason(&rs.list[i])
	}
	return rs
}

// qmailReason reads what qmail wrote of a recipient:
//
//	192.0.2.1 does not like recipient.
//	Remote host said: 550 5.1.1 No such user
//	Giving up on 192.0.2.1.
//
// The reply after "Remote host said:" is the text; without one, qmail's
// own words are, with the status it puts after them ("Sorry, no mailbox
// here by that name. (#5.1.1)"). "I'm not going to try again" ends a
// delay: the recipient failed.
func qmailReason(r *plainRecipient) {
	var words, said []string
	for _, d := range r.lines {
		lower := strings.ToLower(d)
		if s := qmailStatus(d); s != "" && r.status == "" {
			r.status = s
		}
		if rest, ok := cutPrefixFold(d, "Remote host said:"); ok {
			said = []string{strings.TrimSpace(rest)}
			continue
		}
		switch {
		case strings.Contains(lower, "not going to try again"):
			r.delayed = false
		case said != nil && startsReply(d):
			said = append(said, d)
		case !strings.HasPrefix(lower, "giving up on "):
			words = append(words, d)
		}
	}
	if said == nil {
		said = words
	}
	r.text = joinLines(said)
}

// qmailStatus is the enhanced status qmail writes as "(#5.1.1)", or "".
func qmailStatus(s string) string {
	_, after, ok := strings.Cut(s, "(#")
	if !ok {
		return ""
	}
	status, _, ok := strings.Cut(after, ")")
	if !ok || !monitor.ValidEnhancedStatus(status) {
		return ""
	}
	return status
}
