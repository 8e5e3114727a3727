package intake

import "strings"

// sendmailMatch: "----- The following addresses had permanent fatal
// errors -----", or "... transient non-fatal errors" (a warning); each
// section says which its recipients are.
func sendmailMatch(head string) (ok, delayed bool) {
	return strings.Contains(head, "----- the following addresses had permanent fatal errors -----") ||
		strings.Contains(head, "----- the following addresses had transient non-fatal errors -----"), false
}

// sendmailRecipients reads Sendmail's sections: the addresses of each,
// one a line, each followed by indented notes ("(reason: 550 5.1.1
// <jane@example.com>... User unknown)", "(expanded from:
// <alias@example.com>)"); then the transcript of the session, which gives
// the reply of the addresses whose note did not.
func sendmailRecipients(lines []string, _ bool) *recipients {
	const (
		other = iota
		failed
		delayed
		session
	)
	rs := &recipients{}
	tr := transcript{replies: map[string][]string{}, notes: map[string]string{}}
	section, since := other, 0
	for _, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "-----") {
			switch l := strings.ToLower(t); {
			case strings.Contains(l, "had permanent fatal errors"):
				section = failed
			case strings.Contains(l, "had transient non-fatal errors"):
				section = delayed
			case strings.Contains(l, "transcript of session follows"):
				section = session
			default:
				section = other
			}
			since = len(rs.list) + rs.more
			continue
		}
		switch {
		case section == session:
			tr.read(t)
		case section == other:
		case t == "":
			if len(rs.list)+rs.more > since {
				section = other
			}
		case line[0] == ' ' || line[0] == '\t':
			rs.note(since, t)
		default:
			addr, _, _ := strings.Cut(t, "...") // "<jane@example.com>... User unknown"
			rs.add(plainAddress(strings.TrimSpace(addr)), section == delayed)
		}
	}
	for i := range rs.list {
		tr.reason(&rs.list[i])
	}
	return rs
}

// transcript is what a Sendmail bounce's transcript of the session says
// of each recipient, by lower-cased address.
type transcript struct {
	current string              // the address of the last RCPT TO, dataReply after DATA
	replies map[string][]string // the server's reply ("<<< ") to each
	notes   map[string]string   // Sendmail's own line, "<jane@example.com>... Deferred: ..."
}

// dataReply keys the reply to DATA, which concerns every recipient: it
// holds no @, so no address meets it.
const dataReply = "DATA"

func (tr *transcript) read(t string) {
	switch {
	case strings.HasPrefix(t, ">>> "):
		tr.current = ""
		if rest, ok := cutPrefixFold(t[4:], "RCPT TO:"); ok {
			addr, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // less ESMTP parameters
			tr.current = strings.ToLower(plainAddress(addr))
		} else if cmd, ok := cutPrefixFold(t[4:], "DATA"); ok && strings.TrimSpace(cmd) == "" {
			tr.current = dataReply
		}
	case strings.HasPrefix(t, "<<< "):
		if tr.current == "" || len(tr.replies[tr.current]) >= maxRecipientLines {
			return
		}
		if _, seen := tr.replies[tr.current]; seen || len(tr.replies) < MaxReportRecipients {
			tr.replies[tr.current] = append(tr.replies[tr.current], t[4:])
		}
	default:
		addr, text, ok := strings.Cut(t, "... ")
		if !ok || len(tr.notes) >= MaxReportRecipients {
			return
		}
		if a := strings.ToLower(plainAddress(addr)); a != "" && tr.notes[a] == "" {
			tr.notes[a] = strings.TrimSpace(text)
		}
	}
}

// reason sets a recipient's text: its "(reason: ...)" note, else the
// server's reply to its RCPT TO, else Sendmail's line about it, else the
// reply to DATA.
func (tr *transcript) reason(r *plainRecipient) {
	key := strings.ToLower(r.addr)
	var reason string
	for _, d := range r.lines {
		if rest, ok := cutPrefixFold(d, "(reason:"); ok {
			reason = strings.TrimSuffix(strings.TrimSpace(rest), ")")
		}
		if rest, ok := cutPrefixFold(d, "(expanded from:"); ok {
			if a := plainAddress(strings.TrimSpace(strings.TrimSuffix(rest, ")"))); a != "" {
				r.addr = a // the address the platform sent to, before the alias
			}
		}
	}
	switch {
	case reason != "":
		r.text = reason
	case key != "" && len(tr.replies[key]) > 0:
		r.text = joinLines(tr.replies[key])
	case key != "" && tr.notes[key] != "":
		r.text = tr.notes[key]
	default:
		r.text = joinLines(tr.replies[dataReply])
	}
}
