package web

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/server"
)

// outcome is what a sample's post amounts to in the store: the account's
// counts and the state of each recipient it names.
type outcome struct {
	accepted, ignored               int
	sends, hard, complaints, blocks uint64
	recipients                      map[string]monitor.RecipientStatus
}

func (o outcome) String() string {
	var rs []string
	for r, s := range o.recipients {
		rs = append(rs, r+"="+s.String())
	}
	slices.Sort(rs)
	return fmt.Sprintf("accepted %d ignored %d, sends %d hard %d complaints %d blocks %d, %s",
		o.accepted, o.ignored, o.sends, o.hard, o.complaints, o.blocks, strings.Join(rs, " "))
}

// postSample posts a corpus sample as the provider would, twice, into a
// store of its own, and returns what it amounts to. sign makes the
// headers and body of one post (a post per call: Mailgun's tokens are
// single-use).
func postSample(t *testing.T, provider, name string, read func([]byte, intake.Mapping, time.Time) (intake.Result, error),
	configure func(*Options), sign func(body []byte, now time.Time) ([]byte, http.Header)) outcome {
	t.Helper()
	raw := webhookSample(t, name)
	want, err := read(raw, intake.Mapping{Default: "acme"}, t0)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	now := eventsTime(want)
	// An event the provider sent without what dpmon needs (a recipient)
	// is refused, and the rest taken.
	var valid, invalid []monitor.Event
	for _, ev := range want.Events {
		if ev.Validate(now, monitor.DefaultLimits()) == nil {
			valid = append(valid, ev)
		} else {
			invalid = append(invalid, ev)
		}
	}
	e := newEnv(t, now, configure)
	body, header := sign(raw, now)
	code, got := e.post(t, provider, body, header)
	if code != http.StatusOK || got.Accepted != len(valid) || got.Duplicates != 0 || len(got.Rejected) != len(invalid) {
		t.Fatalf("%s: got %d %+v, want 200 with %d accepted and %d rejected", name, code, got, len(valid), len(invalid))
	}
	if n := e.counted(provider, server.ResultAccepted); n != len(valid) {
		t.Errorf("%s: counted %d accepted, want %d", name, n, len(valid))
	}
	// The provider's retry of the same post changes nothing.
	body, header = sign(raw, now)
	if code, again := e.post(t, provider, body, header); code != http.StatusOK || again.Accepted != 0 || again.Duplicates != len(valid) {
		t.Errorf("%s: retried, got %d %+v, want 200 with %d duplicates", name, code, again, len(valid))
	}
	o := outcome{accepted: got.Accepted, ignored: got.Ignored, recipients: make(map[string]monitor.RecipientStatus)}
	if len(valid) > 0 {
		w := e.windowCounts(t, "acme")
		o.sends, o.hard, o.complaints, o.blocks = w.Sends, w.HardBounces, w.Complaints, w.Blocks
	}
	for _, ev := range valid {
		o.recipients[ev.Recipient] = e.recipient(t, "acme", ev.Recipient)
	}
	return o
}
