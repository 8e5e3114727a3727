package server

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

func TestClassifyBounce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		req    *pb.ClassifyBounceRequest
		class  pb.BounceClass
		reason pb.BounceReason
		rule   string
	}{
		{&pb.ClassifyBounceRequest{SmtpCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown in virtual mailbox table"},
			pb.BounceClass_BOUNCE_CLASS_HARD, pb.BounceReason_BOUNCE_REASON_USER_UNKNOWN, `text:user-unknown "user unknown"`},
		// The text wins over the code.
		{&pb.ClassifyBounceRequest{SmtpCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "550 5.7.1 Service unavailable; client host [192.0.2.1] blocked using zen.spamhaus.org"},
			pb.BounceClass_BOUNCE_CLASS_BLOCK, pb.BounceReason_BOUNCE_REASON_BLOCKLISTED, `text:blocklist "blocked using"`},
		// The codes decide when there is no text.
		{&pb.ClassifyBounceRequest{SmtpCode: 552, EnhancedStatus: "5.2.2"},
			pb.BounceClass_BOUNCE_CLASS_SOFT, pb.BounceReason_BOUNCE_REASON_MAILBOX_FULL, "status:5.2.2"},
	} {
		resp, err := e.bounces.ClassifyBounce(ctx, tc.req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetClass() != tc.class || resp.GetReason() != tc.reason || resp.GetRule() != tc.rule {
			t.Errorf("%v: got %v/%v by %s, want %v/%v by %s", tc.req, resp.GetClass(), resp.GetReason(), resp.GetRule(), tc.class, tc.reason, tc.rule)
		}
	}
	for _, tc := range []struct {
		req   *pb.ClassifyBounceRequest
		field string
	}{
		{&pb.ClassifyBounceRequest{}, "diagnostic"},
		{&pb.ClassifyBounceRequest{SmtpCode: 250}, "smtp_code"},
		{&pb.ClassifyBounceRequest{EnhancedStatus: "2.0.0"}, "enhanced_status"},
		{&pb.ClassifyBounceRequest{Diagnostic: "line\nbreak"}, "diagnostic"},
	} {
		_, err := e.bounces.ClassifyBounce(ctx, tc.req)
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%v: got %v, want INVALID_ARGUMENT", tc.req, err)
		}
		assertFieldViolation(t, err, tc.field)
	}
}
