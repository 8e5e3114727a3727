// Package intake reads events from where platforms already have them
// into dpmon events: the webhook payloads of email providers, and bounce
// and feedback-loop mail. What a provider or a report says of each
// recipient (delivered, bounced with the remote's reply, complained,
// unsubscribed) becomes one monitor.Event, with an id made from the
// source's own ids so that a retry or a second copy is a duplicate, and
// the account the platform's mapping names.
//
// It only reads. Checking a provider's signature is here as pure
// functions (verify.go); fetching certificates, committing the events and
// answering the sender are the handlers'.
package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net/mail"
	"strings"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

// ErrPayload is returned (wrapped, with the reason) for a payload that
// cannot be read: the provider gets a 400 with the reason.
var ErrPayload = errors.New("payload cannot be read")

// Mapping says which dpmon account a provider's events belong to: the
// value of the payload field From names the account (each provider lists
// the fields it knows), else Default; with neither the event is unmapped.
type Mapping struct {
	From    string
	Default string
}

// Result is what one payload holds for dpmon.
type Result struct {
	// Events are ready to ingest, each with its account.
	Events []monitor.Event
	// Unmapped are events no mapping gave an account (AccountID empty):
	// the caller answers 2xx all the same, so that the provider does not
	// retry for ever, and keeps them where an operator can see them.
	Unmapped []monitor.Event
	// Ignored counts records that carry nothing for dpmon, such as a
	// provider's echo of its own suppression of an address it already
	// reported.
	Ignored int
	// Malformed counts records of a batch that could not be read; the
	// rest of the batch is taken.
	Malformed int
}

// record is one provider record: the event it stands for (ok false when
// none), and the value of each field a Mapping may name.
type record interface {
	event(now time.Time) (e monitor.Event, ok bool)
	field(name string) string
}

// take adds what rec stands for, under the account m maps it to.
func (r *Result) take(rec record, m Mapping, now time.Time) {
	e, ok := rec.event(now)
	if !ok {
		r.Ignored++
		return
	}
	r.add(e, m.account(rec.field))
}

// add files e under the account it maps to.
func (r *Result) add(e monitor.Event, account string) {
	if e.AccountID = account; account == "" {
		r.Unmapped = append(r.Unmapped, e)
		return
	}
	r.Events = append(r.Events, e)
}

// account returns the account named by the value of the mapped field
// (found by lookup), else the default. A value that cannot be an account
// id counts as none.
func (m Mapping) account(lookup func(field string) string) string {
	if m.From != "" {
		if v := strings.TrimSpace(lookup(m.From)); v != "" && monitor.CheckID(v) == "" {
			return v
		}
	}
	return m.Default
}

// eventID is a provider's own event id, prefixed with the provider so that
// two providers' ids never meet. Without one, the id is a digest of what
// identifies the event in the payload (message id, recipient, kind,
// instant): a retried payload gives the same id, and any length fits.
func eventID(provider, own string, parts ...string) string {
	if own != "" && len(provider)+1+len(own) <= monitor.MaxIDLen && monitor.CheckID(own) == "" {
		return provider + ":" + own
	}
	h := sha256.New()
	for _, p := range append([]string{own}, parts...) {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return provider + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}

// complaint is a provider's spam complaint, which its webhooks report
// without the feedback report's type: a recipient's "this is spam".
func complaint(provider string) *monitor.Complaint {
	return &monitor.Complaint{FeedbackType: "abuse", Source: provider}
}

// unixTime is a provider's Unix time in seconds, fractions included; now
// when it gives none (or one past any date a mail could have).
func unixTime(sec float64, now time.Time) time.Time {
	if sec <= 0 || sec >= 1<<33 {
		return now
	}
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(frac*1e9)).UTC()
}

// plainAddress returns the address of a From-style value ("Jane
// <jane@example.com>" or a bare address), or "" when it holds none that
// dpmon takes as a sender.
func plainAddress(s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil || monitor.CheckAddress(a.Address) != "" {
		return ""
	}
	return a.Address
}
