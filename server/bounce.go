package server

import (
	"context"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
)

// ClassifyBounce answers what dpmon makes of a reply, as it would for an
// ingested bounce.
func (s *Server) ClassifyBounce(ctx context.Context, req *pb.ClassifyBounceRequest) (*pb.ClassifyBounceResponse, error) {
	b := monitor.Bounce{SMTPCode: smtpCode(req.GetSmtpCode()), EnhancedStatus: req.GetEnhancedStatus(), Diagnostic: req.GetDiagnostic()}
	if b.SMTPCode == 0 && b.EnhancedStatus == "" && b.Diagnostic == "" {
		return nil, invalidArgument(monitor.FieldError{Field: "diagnostic", Reason: "give the reply text, smtp_code or enhanced_status"})
	}
	if err := b.Validate(""); err != nil {
		return nil, s.errorStatus(ctx, "ClassifyBounce", err)
	}
	v := monitor.Classify(b)
	return &pb.ClassifyBounceResponse{Class: pb.BounceClass(v.Class), Reason: pb.BounceReason(v.Reason), Rule: v.Rule}, nil
}
