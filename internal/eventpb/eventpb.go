// Package eventpb turns domain events into the API's, for the server
// showing events back and the clients that read events themselves (dpctl
// ingest-mail, follow-log).
package eventpb

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
)

// From is e as the API carries it. The verdict stays behind: the server
// decides it from the rest when it accepts the event.
func From(e monitor.Event) *pb.Event {
	p := &pb.Event{
		EventId: e.ID, AccountId: e.AccountID, Type: pb.EventType(e.Type),
		Recipient: e.Recipient, Sender: e.Sender, MessageId: e.MessageID,
	}
	if !e.OccurredAt.IsZero() {
		p.OccurredAt = timestamppb.New(e.OccurredAt)
	}
	if b := e.Bounce; b != nil {
		p.Bounce = &pb.Bounce{SmtpCode: uint32(b.SMTPCode), EnhancedStatus: b.EnhancedStatus, Diagnostic: b.Diagnostic, Class: pb.BounceClass(b.Class)}
	}
	if c := e.Complaint; c != nil {
		p.Complaint = &pb.Complaint{FeedbackType: c.FeedbackType, Source: c.Source}
	}
	if l := e.Listing; l != nil {
		p.Listing = &pb.Listing{Blocklist: l.Blocklist, Listed: l.Listed}
	}
	return p
}
