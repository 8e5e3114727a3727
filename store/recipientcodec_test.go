package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/dpmon/dpmon/monitor"
)

func TestRecipientRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	for _, want := range []recipientRecord{
		{},
		{Recipient: monitor.Recipient{Status: monitor.RecipientSuppressed, Reason: monitor.SuppressedComplaint, Since: at}, history: []uint64{7}},
		{Recipient: monitor.Recipient{Status: monitor.RecipientBlocked, Reason: monitor.SuppressedSoftBounce, Since: at,
			Until: at.Add(72 * time.Hour), SoftBlocks: 2, LastSoftBounce: at, HardBounces: []time.Time{at.Add(-time.Hour)}},
			history: []uint64{3, 900, 1 << 40}},
		{Recipient: monitor.Recipient{Status: monitor.RecipientActive, Since: at, LiftedAt: at}, history: []uint64{1, 2}},
	} {
		got, err := decodeRecipient(encodeRecipient(want))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
	if r, err := decodeRecipient(nil); err != nil || !reflect.DeepEqual(r, recipientRecord{}) {
		t.Errorf("a recipient never seen: got %+v, %v; want the zero record", r, err)
	}
}

// FuzzDecodeRecipient checks that a damaged record is an error, never a
// panic or a huge allocation.
func FuzzDecodeRecipient(f *testing.F) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f.Add(encodeRecipient(recipientRecord{Recipient: monitor.Recipient{Status: monitor.RecipientActive, HardBounces: []time.Time{at}}, history: []uint64{1, 2}}))
	f.Add([]byte{recipientVersion, 1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, v []byte) {
		_, _ = decodeRecipient(v)
	})
}

func TestRecipientChangeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	for _, want := range []monitor.RecipientChange{
		{At: at, Kind: monitor.ChangeComplaint, Status: monitor.RecipientSuppressed, Reason: monitor.SuppressedComplaint,
			EventID: "ev-1", Description: "Complaint: suppressed for good."},
		{At: at, Kind: monitor.ChangeSoftBounce, Status: monitor.RecipientBlocked, Reason: monitor.SuppressedSoftBounce, Until: at.Add(72 * time.Hour),
			EventID: "ev-2", Description: "Soft bounce.", Bounce: &monitor.Bounce{SMTPCode: 452, EnhancedStatus: "4.2.2",
				Diagnostic: "452 4.2.2 mailbox full \u00e9\x00", Class: monitor.BounceSoft, Verdict: monitor.BounceSoft, Reason: 3, Rule: "mailbox-full"}},
		{At: at, Kind: monitor.ChangeManualDelete, Status: monitor.RecipientActive, Actor: "ops", Note: "asked by the customer"},
	} {
		got, err := decodeChange(encodeChange(want))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
}

// History entries written as JSON, before they were binary, are still read.
func TestRecipientChangeOfAnEarlierReleaseIsRead(t *testing.T) {
	v1 := `{"v":1,"at":"2026-11-24T10:00:00Z","kind":1,"status":3,"reason":1,"event_id":"ev-9",` +
		`"bounce":{"smtp_code":550,"enhanced_status":"5.1.1","diagnostic":"550 5.1.1 user unknown","class":1,"verdict":1,"rule":"unknown-user"},` +
		`"description":"Hard bounce: suppressed."}`
	got, err := decodeChange([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	want := monitor.RecipientChange{At: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Kind: 1, Status: 3, Reason: 1, EventID: "ev-9",
		Bounce:      &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.1.1 user unknown", Class: 1, Verdict: 1, Rule: "unknown-user"},
		Description: "Hard bounce: suppressed."}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// FuzzDecodeRecipientChange checks that a damaged entry is an error, never
// a panic.
func FuzzDecodeRecipientChange(f *testing.F) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	f.Add(encodeChange(monitor.RecipientChange{At: at, EventID: "e", Bounce: &monitor.Bounce{SMTPCode: 550}}))
	f.Add([]byte{changeVersion, 2, 1, 1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, v []byte) {
		_, _ = decodeChange(v)
	})
}
