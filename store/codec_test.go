package store

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

func TestEventRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	events := []monitor.Event{
		{ID: "s1", AccountID: "acme", Type: monitor.EventSend, OccurredAt: at, Recipient: "a@example.com", Sender: "n@acme.example", MessageID: "<m@acme>"},
		{ID: "b1", AccountID: "acme", Type: monitor.EventBounce, OccurredAt: at, Recipient: "b@example.com",
			Bounce: &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "user unknown", Class: monitor.BounceHard, Verdict: monitor.BounceHard}},
		{ID: "c1", AccountID: "beta", Type: monitor.EventComplaint, OccurredAt: at, Recipient: "c@example.com",
			Complaint: &monitor.Complaint{FeedbackType: "abuse", Source: "fbl"}},
	}
	var buf []byte
	for i := range events {
		buf = appendEvent(buf, &events[i])
	}
	var hashes []byte
	for i := range events {
		hashes = binary.LittleEndian.AppendUint64(hashes, uint64(i)<<40|7)
	}
	rec := encodeLogRecord(at, len(events), hashes, buf)
	acceptedAt, n, gotHashes, rest, err := decodeLogHeader(rec)
	if err != nil || n != len(events) || !acceptedAt.Equal(at) || !bytes.Equal(gotHashes, hashes) {
		t.Fatalf("header = %v, %d, %x, %v; want %v, %d, %x", acceptedAt, n, gotHashes, err, at, len(events), hashes)
	}
	skimRest := rest
	for i, want := range events {
		var got monitor.Event
		if rest, err = decodeEvent(rest, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event %d: got %+v, want %+v", i, got, want)
		}
		var s skimmedEvent
		if skimRest, err = skimEvent(skimRest, &s); err != nil {
			t.Fatal(err)
		}
		if string(s.id) != want.ID || string(s.accountID) != want.AccountID || s.event.Counts() != want.Counts() || !s.event.OccurredAt.Equal(at) {
			t.Errorf("skimmed event %d: %+v, want the id, account, time and counts of %+v", i, s, want)
		}
	}
	if len(rest) != 0 || len(skimRest) != 0 {
		t.Errorf("%d and %d bytes left over", len(rest), len(skimRest))
	}
}

// FuzzDecode feeds damaged records to the decoders: they must return an
// error or a value, never panic or read past the end.
func FuzzDecode(f *testing.F) {
	e := monitor.Event{ID: "b1", AccountID: "acme", Type: monitor.EventBounce, OccurredAt: time.Unix(1e9, 0),
		Recipient: "b@example.com", Bounce: &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}}
	f.Add(encodeLogRecord(time.Unix(1e9, 0), 1, make([]byte, 8), appendEvent(nil, &e)))
	f.Add([]byte{logVersion, 0x80})
	f.Add([]byte{logVersion, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add(encodeUnmapped(&Unmapped{Source: "mailgun", Received: time.Unix(1e9, 0), Reason: "no tag", Event: e}))
	f.Fuzz(func(t *testing.T, rec []byte) {
		_, _ = decodeUnmapped(1, rec)
		_, n, _, rest, err := decodeLogHeader(rec)
		if err != nil {
			return
		}
		skimRest := rest
		for range min(n, 100) {
			var ev monitor.Event
			if rest, err = decodeEvent(rest, &ev); err != nil {
				break
			}
		}
		for range min(n, 100) {
			var s skimmedEvent
			if skimRest, err = skimEvent(skimRest, &s); err != nil {
				break
			}
		}
	})
}
