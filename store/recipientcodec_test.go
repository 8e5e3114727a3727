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
