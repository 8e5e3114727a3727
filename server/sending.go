package server

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
)

// How an account sends: the bulk policy per sender address, the quotas and
// the reputation score.

// UnblockSender lifts the bulk-policy block of a sender address (admin).
func (s *Server) UnblockSender(ctx context.Context, req *pb.UnblockSenderRequest) (*pb.UnblockSenderResponse, error) {
	if err := checkRequest(idErrors("account_id", req.GetAccountId()), monitor.ValidateUnblock(req.GetSender(), req.GetNote())); err != nil {
		return nil, err
	}
	st, err := s.db.UnblockSender(ctx, req.GetAccountId(), req.GetSender(), req.GetNote(), actor(ctx))
	if err != nil {
		return nil, s.errorStatus(ctx, "UnblockSender", err)
	}
	return &pb.UnblockSenderResponse{Sender: senderToProto(st)}, nil
}

// GetReputationHistory returns the account's daily scores and its score now.
func (s *Server) GetReputationHistory(ctx context.Context, req *pb.GetReputationHistoryRequest) (*pb.GetReputationHistoryResponse, error) {
	if err := checkAccount(ctx, req.GetAccountId()); err != nil {
		return nil, err
	}
	days := int(req.GetDays())
	switch {
	case days < 0 || days > store.ReputationDays:
		return nil, invalidArgument(monitor.FieldError{Field: "days", Reason: "must be between 0 (the default, 90) and 90"})
	case days == 0:
		days = store.ReputationDays
	}
	a, err := s.db.Account(ctx, req.GetAccountId())
	if err != nil {
		return nil, s.errorStatus(ctx, "GetReputationHistory", err)
	}
	now := s.clock()
	history, err := s.db.ReputationHistory(ctx, a.ID, days, now)
	if err != nil {
		return nil, s.errorStatus(ctx, "GetReputationHistory", err)
	}
	resp := &pb.GetReputationHistoryResponse{Current: reputationToProto(a.Reputation(now, s.db.Policy()), a.ReputationLow)}
	for _, d := range history {
		resp.Days = append(resp.Days, &pb.DailyScore{Date: d.Day.Format("2006-01-02"), Score: uint32(d.Score)})
	}
	return resp, nil
}

// accountProto converts an account with everything measured at one
// instant: rates, quota, senders, reputation.
func (s *Server) accountProto(ctx context.Context, a *monitor.Account, now time.Time) *pb.Account {
	policy := s.db.Policy()
	out := accountToProto(a, a.Status(now, policy))
	platform := s.db.PlatformSends(now)
	b := policy.Bulk
	out.BulkPolicy = &pb.BulkPolicyStatus{
		Enabled: a.BulkEnabled(&policy), Window: durationpb.New(b.Window),
		BaseLimit: uint32(b.BaseLimit), MinLimit: uint32(b.MinLimit),
		PlatformSends: platform, VolumeFactor: b.VolumeFactor(platform),
	}
	if identity(ctx).Role == RoleSender {
		// The platform's volume is every account's business but the
		// sender's: it sees only what it does to its limits, not the
		// volume nor the factor it could be worked out from.
		out.BulkPolicy.PlatformSends, out.BulkPolicy.VolumeFactor = 0, 0
	}
	for _, st := range a.SenderStatuses(now, policy, platform) {
		out.BulkPolicy.Senders = append(out.BulkPolicy.Senders, senderToProto(st))
	}
	out.Quota = quotaToProto(a.QuotaStatus(now, policy))
	rep := a.Reputation(now, policy)
	out.Reputation = reputationToProto(rep, a.ReputationLow)
	for _, p := range rep.Providers {
		out.Providers = append(out.Providers, &pb.ProviderStats{
			Provider: p.Name, Sends: p.Sends, HardBounces: p.HardBounces, Complaints: p.Complaints, Blocks: p.Blocks,
			HardBounceRate: monitor.NewRate(p.HardBounces, p.Sends).Value,
			ComplaintRate:  monitor.NewRate(p.Complaints, p.Sends).Value,
			BlockRate:      monitor.NewRate(p.Blocks, p.Sends).Value,
		})
	}
	return out
}

func senderToProto(st monitor.SenderStatus) *pb.SenderStatus {
	out := &pb.SenderStatus{
		Sender: st.Address, Blocked: st.Blocked, DistinctRecipients: uint32(st.Distinct), Limit: uint32(st.Limit),
		BounceShare: st.BounceShare, OpenTicketId: st.OpenTicket,
	}
	if st.Blocked {
		out.ReasonCode = pb.ReasonCode_REASON_CODE_BULK_POLICY_VIOLATION
		out.Reason = st.Reason
		out.BlockedAt = timestamp(st.Since)
	}
	return out
}

func quotaToProto(q monitor.QuotaStatus) *pb.Quota {
	return &pb.Quota{
		MaxSendsPerDay: q.Set.PerDay, MaxSendsPerSecond: q.Set.PerSecond,
		EffectiveSendsPerDay: q.Effective.PerDay, EffectiveSendsPerSecond: q.Effective.PerSecond,
		Reduced: q.Reduced, SendsLast_24H: q.SendsDay, SendsThisSecond: q.SendsSecond,
		ResumesAt: timestamp(q.ResumesAt),
	}
}

func reputationToProto(r monitor.Reputation, low bool) *pb.Reputation {
	out := &pb.Reputation{
		Score: uint32(r.Score), Window: durationpb.New(time.Duration(r.Days) * 24 * time.Hour),
		AlertBelow: uint32(r.AlertBelow), BelowAlertLevel: low, AuthFailures: r.AuthFailures,
	}
	for _, c := range r.Components {
		out.Components = append(out.Components, &pb.ReputationComponent{
			Factor: pb.ReputationFactor(c.Factor), Value: c.Value, Weight: c.Weight, Penalty: c.Penalty,
			Reported: c.Reported, Explanation: c.Explanation,
		})
	}
	return out
}

// verdictToProto converts CheckSend's answer, but for its recipients.
func verdictToProto(v monitor.SendVerdict) *pb.CheckSendResponse {
	resp := &pb.CheckSendResponse{
		Allowed: v.Allowed, Phase: pb.Phase(v.Phase), Findings: findingsToProto(v.Findings),
		Reasons: v.Reasons, Recommendations: v.Recommendations,
	}
	if v.Sender != nil {
		resp.Sender = senderToProto(*v.Sender)
	}
	return resp
}

// quotaExhausted is CheckSend's answer for an account over its quota:
// RESOURCE_EXHAUSTED, with when to retry and which quota.
func quotaExhausted(accountID string, q monitor.QuotaStatus, now time.Time) error {
	subject := "account:" + accountID
	v := &errdetails.QuotaFailure_Violation{Subject: subject, Description: q.Reason}
	if q.Effective.PerDay > 0 && q.SendsDay >= q.Effective.PerDay {
		v.Description = fmt.Sprintf("%d of %d sends per rolling 24 hours used. %s", q.SendsDay, q.Effective.PerDay, q.Reason)
	}
	return resourceExhausted(q.Reason, q.ResumesAt.Sub(now), v)
}
