package eventpb

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
)

func TestFrom(t *testing.T) {
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	e := monitor.Event{ID: "e1", AccountID: "acme", Type: monitor.EventBounce, OccurredAt: at, Recipient: "a@example.org",
		Sender: "s@acme.example", MessageID: "<m@x>",
		Bounce:    &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "user unknown", Class: monitor.BounceHard, Verdict: monitor.BounceBlock},
		Complaint: &monitor.Complaint{FeedbackType: "abuse", Source: "isp"}, Listing: &monitor.Listing{Blocklist: "bl", Listed: "192.0.2.1"}}
	want := &pb.Event{EventId: "e1", AccountId: "acme", Type: pb.EventType_EVENT_TYPE_BOUNCE, OccurredAt: timestamppb.New(at),
		Recipient: "a@example.org", Sender: "s@acme.example", MessageId: "<m@x>",
		Bounce:    &pb.Bounce{SmtpCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "user unknown", Class: pb.BounceClass_BOUNCE_CLASS_HARD},
		Complaint: &pb.Complaint{FeedbackType: "abuse", Source: "isp"}, Listing: &pb.Listing{Blocklist: "bl", Listed: "192.0.2.1"}}
	if got := From(e); !proto.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := From(monitor.Event{ID: "e2"}); got.GetOccurredAt() != nil || got.GetBounce() != nil {
		t.Errorf("bare event: got %v", got)
	}
}
