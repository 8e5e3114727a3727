package monitor

import "strconv"

// BounceReason says why a bounce happened, finer than its BounceClass. It is
// what a sender reads to fix the cause; the class is what reputation counts.
type BounceReason uint8

// The bounce reasons; the numbers match the wire enum, so they never change
// and new reasons are only ever appended.
const (
	ReasonUnspecified     BounceReason = 0
	ReasonUserUnknown     BounceReason = 1  // the mailbox does not exist
	ReasonHostUnknown     BounceReason = 2  // the domain does not exist or has no mail host
	ReasonMailboxDisabled BounceReason = 3  // disabled, suspended, locked or inactive account
	ReasonHasMoved        BounceReason = 4  // the mailbox has moved
	ReasonBadSyntax       BounceReason = 5  // malformed recipient address
	ReasonMailboxFull     BounceReason = 6  // over quota, or the receiving system is out of storage
	ReasonGreylisted      BounceReason = 7  // deferred once on purpose; a retry gets through
	ReasonRateLimited     BounceReason = 8  // too many messages or connections, throttling
	ReasonNetworkError    BounceReason = 9  // timeouts, refused or lost connections, DNS failing for now
	ReasonExpired         BounceReason = 10 // the sender gave up retrying
	ReasonMailLoop        BounceReason = 11 // too many hops
	ReasonMessageTooLarge BounceReason = 12 // over a size limit
	ReasonSpamContent     BounceReason = 13 // the content was judged spam
	ReasonBlocklisted     BounceReason = 14 // the sending IP or domain is on a DNSBL or a private block list
	ReasonBadReputation   BounceReason = 15 // low reputation, suspicious sending, missing PTR
	ReasonAuthFailure     BounceReason = 16 // SPF, DKIM or DMARC failed, or the sender is unauthenticated
	ReasonPolicy          BounceReason = 17 // refused by the receiver's policy
	ReasonVirus           BounceReason = 18 // malware found in the message
	ReasonAutoReply       BounceReason = 19 // vacation or out-of-office reply, not a bounce
	ReasonUnknown         BounceReason = 20 // nothing could be told
	ReasonSystemError     BounceReason = 21 // the remote system failed, for now
	ReasonRelayDenied     BounceReason = 22 // the receiver will not relay
	ReasonTLSRequired     BounceReason = 23 // STARTTLS was required or failed
	ReasonContentRejected BounceReason = 24 // the message breaks RFC 5322 or has malformed headers
	ReasonNotAccepting    BounceReason = 25 // the domain accepts no mail at all (null MX, RFC 7505)
)

// reasonNames are lower-case words, fit for a sentence in a report or a log.
var reasonNames = [...]string{
	ReasonUnspecified:     "unspecified",
	ReasonUserUnknown:     "user unknown",
	ReasonHostUnknown:     "host unknown",
	ReasonMailboxDisabled: "mailbox disabled",
	ReasonHasMoved:        "has moved",
	ReasonBadSyntax:       "bad syntax",
	ReasonMailboxFull:     "mailbox full",
	ReasonGreylisted:      "greylisted",
	ReasonRateLimited:     "rate limited",
	ReasonNetworkError:    "network error",
	ReasonExpired:         "expired",
	ReasonMailLoop:        "mail loop",
	ReasonMessageTooLarge: "message too large",
	ReasonSpamContent:     "spam content",
	ReasonBlocklisted:     "blocklisted",
	ReasonBadReputation:   "bad reputation",
	ReasonAuthFailure:     "auth failure",
	ReasonPolicy:          "policy",
	ReasonVirus:           "virus",
	ReasonAutoReply:       "auto reply",
	ReasonUnknown:         "unknown",
	ReasonSystemError:     "system error",
	ReasonRelayDenied:     "relay denied",
	ReasonTLSRequired:     "tls required",
	ReasonContentRejected: "content rejected",
	ReasonNotAccepting:    "not accepting",
}

// String returns the reason in lower-case words, e.g. "user unknown"; a
// number outside the enum reads "BounceReason(N)".
func (r BounceReason) String() string {
	if r.Valid() {
		return reasonNames[r]
	}
	return "BounceReason(" + strconv.Itoa(int(r)) + ")"
}

// Valid reports whether r is a known reason; unspecified is valid, as it is
// for BounceClass, because it is what an unset wire field decodes to.
func (r BounceReason) Valid() bool { return int(r) < len(reasonNames) }
