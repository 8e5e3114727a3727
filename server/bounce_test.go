package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor/monitortest"
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
		// A DSN quoting the remote's last words, a success: nothing to tell.
		{&pb.ClassifyBounceRequest{SmtpCode: 250, EnhancedStatus: "2.6.0", Diagnostic: "250 2.6.0 Message received"},
			pb.BounceClass_BOUNCE_CLASS_UNDETERMINED, pb.BounceReason_BOUNCE_REASON_UNKNOWN, "none"},
		// ... unless its text tells a failure.
		{&pb.ClassifyBounceRequest{SmtpCode: 250, EnhancedStatus: "2.1.5", Diagnostic: "250 2.1.5 Ok, but the mailbox is full"},
			pb.BounceClass_BOUNCE_CLASS_SOFT, pb.BounceReason_BOUNCE_REASON_MAILBOX_FULL, `text:mailbox-full "mailbox is full"`},
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
		{&pb.ClassifyBounceRequest{SmtpCode: 199}, "smtp_code"},
		{&pb.ClassifyBounceRequest{SmtpCode: 600}, "smtp_code"},
		{&pb.ClassifyBounceRequest{SmtpCode: 1<<32 - 1}, "smtp_code"},
		{&pb.ClassifyBounceRequest{EnhancedStatus: "3.0.0"}, "enhanced_status"},
		{&pb.ClassifyBounceRequest{Diagnostic: "line\nbreak"}, "diagnostic"},
	} {
		_, err := e.bounces.ClassifyBounce(ctx, tc.req)
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%v: got %v, want INVALID_ARGUMENT", tc.req, err)
		}
		assertFieldViolation(t, err, tc.field)
	}
	// The refusal quotes the code sent, not a clamped one.
	if _, err := e.bounces.ClassifyBounce(ctx, &pb.ClassifyBounceRequest{SmtpCode: 1<<32 - 1}); !strings.Contains(fmt.Sprint(status.Convert(err).Details()), "got 4294967295") {
		t.Errorf("huge code: got %v, want the code quoted", status.Convert(err).Details())
	}
}

// TestClassifyBounceCorpus sends every reply of the shared corpus through
// the API, as a platform would, 2xx and 3xx codes included: each must be
// answered, and the classes must agree with the labels as in monitor's
// TestCorpus.
func TestClassifyBounceCorpus(t *testing.T) {
	rows := monitortest.BounceCorpus(t)
	e := newEnv(t)
	ctx := context.Background()
	agree := 0
	for _, r := range rows {
		resp, err := e.bounces.ClassifyBounce(ctx, &pb.ClassifyBounceRequest{SmtpCode: uint32(r.Code), EnhancedStatus: r.Status, Diagnostic: r.Diagnostic})
		if err != nil {
			t.Errorf("%s: %v", r.ID, err)
			continue
		}
		if strings.TrimPrefix(resp.GetClass().String(), "BOUNCE_CLASS_") == r.Class {
			agree++
		}
	}
	share := float64(agree) / float64(len(rows))
	t.Logf("agreement through the API: %d of %d rows, %.1f%%", agree, len(rows), 100*share)
	if share < monitortest.MinCorpusAgreement {
		t.Errorf("agreement %.1f%%, want at least %.0f%%", 100*share, 100*monitortest.MinCorpusAgreement)
	}
}
