package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
)

// keepUnmapped keeps, straight in the store, a mailgun bounce, an SES
// complaint and another mailgun bounce, received a minute apart.
func keepUnmapped(t *testing.T, e *env) {
	t.Helper()
	bounce := func(id string) monitor.Event {
		return monitor.Event{ID: id, Type: monitor.EventBounce, OccurredAt: t0, Recipient: "b@example.com", Sender: "n@acme.example", MessageID: "<m@acme>",
			Bounce: &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "user unknown", Class: monitor.BounceHard}}
	}
	kept := []store.Unmapped{
		{Source: "mailgun", Received: t0, Reason: `no "tag" value and no hooks.mailgun.default_account`, Event: bounce("mg-1")},
		{Source: "ses", Received: t0.Add(time.Minute), Reason: "no mapping for configuration set news",
			Event: monitor.Event{ID: "ses-1", Type: monitor.EventComplaint, OccurredAt: t0, Recipient: "c@example.com",
				Complaint: &monitor.Complaint{FeedbackType: "abuse", Source: "fbl"}}},
		{Source: "mailgun", Received: t0.Add(2 * time.Minute), Reason: `no "tag" value and no hooks.mailgun.default_account`, Event: bounce("mg-2")},
	}
	if err := e.db.KeepUnmapped(context.Background(), kept); err != nil {
		t.Fatal(err)
	}
}

func TestListUnmappedEvents(t *testing.T) {
	e := newEnv(t)
	keepUnmapped(t, e)
	ctx := context.Background()
	resp, err := e.events.ListUnmappedEvents(ctx, &pb.ListUnmappedEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEvents()) != 3 || resp.GetNextPageToken() != "" {
		t.Fatalf("got %d events and next page %q, want 3 and none", len(resp.GetEvents()), resp.GetNextPageToken())
	}
	want := &pb.UnmappedEvent{Seq: 2, Source: "ses", ReceivedAt: timestamppb.New(t0.Add(time.Minute)), Reason: "no mapping for configuration set news",
		Event: &pb.Event{EventId: "ses-1", Type: pb.EventType_EVENT_TYPE_COMPLAINT, OccurredAt: timestamppb.New(t0), Recipient: "c@example.com",
			Complaint: &pb.Complaint{FeedbackType: "abuse", Source: "fbl"}}}
	if got := resp.GetEvents()[1]; !proto.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := resp.GetEvents()[0]; got.GetSeq() != 3 || got.GetEvent().GetBounce().GetSmtpCode() != 550 ||
		got.GetEvent().GetBounce().GetClass() != pb.BounceClass_BOUNCE_CLASS_HARD || got.GetEvent().GetMessageId() != "<m@acme>" {
		t.Errorf("got %v, want mg-2, seq 3, with its bounce", got)
	}

	// One source, a page at a time.
	var got []string
	token := ""
	for {
		page, err := e.events.ListUnmappedEvents(ctx, &pb.ListUnmappedEventsRequest{Source: "mailgun", PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range page.GetEvents() {
			got = append(got, u.GetEvent().GetEventId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(got) != 2 || got[0] != "mg-2" || got[1] != "mg-1" {
		t.Errorf("got %v, want [mg-2 mg-1]", got)
	}
}

func TestListUnmappedEventsRefusesBadPages(t *testing.T) {
	e := newEnv(t)
	_, err := e.events.ListUnmappedEvents(context.Background(), &pb.ListUnmappedEventsRequest{PageToken: "x"})
	assertFieldViolation(t, err, "page_token")
	_, err = e.events.ListUnmappedEvents(context.Background(), &pb.ListUnmappedEventsRequest{PageSize: -1})
	assertFieldViolation(t, err, "page_size")
}

// Unmapped events belong to no account: only operators see them.
func TestListUnmappedEventsIsForOperators(t *testing.T) {
	e := newEnvWith(t, testAuth(t))
	keepUnmapped(t, e)
	for _, c := range []struct {
		token string
		want  codes.Code
	}{{"platform-a", codes.PermissionDenied}, {"auditor", codes.OK}, {"ops-alice", codes.OK}, {"", codes.Unauthenticated}} {
		resp, err := e.events.ListUnmappedEvents(as(c.token), &pb.ListUnmappedEventsRequest{})
		if status.Code(err) != c.want {
			t.Errorf("%q: got %v, want %v", c.token, err, c.want)
		}
		if c.want == codes.OK && len(resp.GetEvents()) != 3 {
			t.Errorf("%q: got %d events, want 3", c.token, len(resp.GetEvents()))
		}
	}
}
