package server

import (
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
)

// Paired converters between wire and domain types. The numbers of the wire
// enums equal the domain's, so enums convert by value; unknown numbers are
// kept so that validation can name them.

func eventFromProto(p *pb.Event) (monitor.Event, error) {
	e := monitor.Event{
		ID:        p.GetEventId(),
		AccountID: p.GetAccountId(),
		Type:      monitor.EventType(clampEnum(int32(p.GetType()))),
		Recipient: p.GetRecipient(),
		Sender:    p.GetSender(),
		MessageID: p.GetMessageId(),
	}
	if ts := p.GetOccurredAt(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return e, monitor.FieldError{Field: "occurred_at", Reason: "is not a valid timestamp"}
		}
		e.OccurredAt = ts.AsTime()
	}
	if b := p.GetBounce(); b != nil {
		e.Bounce = &monitor.Bounce{
			SMTPCode:       smtpCode(b.GetSmtpCode()),
			EnhancedStatus: b.GetEnhancedStatus(),
			Diagnostic:     b.GetDiagnostic(),
			Class:          monitor.BounceClass(clampEnum(int32(b.GetClass()))),
		}
	}
	if c := p.GetComplaint(); c != nil {
		e.Complaint = &monitor.Complaint{FeedbackType: c.GetFeedbackType(), Source: c.GetSource()}
	}
	if l := p.GetListing(); l != nil {
		e.Listing = &monitor.Listing{Blocklist: l.GetBlocklist(), Listed: l.GetListed()}
	}
	return e, nil
}

// clampEnum maps an enum number outside the domain's byte range to one the
// domain rejects as unknown.
func clampEnum(n int32) uint8 {
	if n < 0 || n > 255 {
		return 255
	}
	return uint8(n)
}

func accountToProto(a *monitor.Account, st monitor.Status) *pb.Account {
	out := &pb.Account{
		AccountId:       a.ID,
		DisplayName:     a.DisplayName,
		AdminEmails:     slices.Clone(a.AdminEmails),
		Phase:           pb.Phase(a.State.Phase),
		PhaseSince:      timestamp(a.State.Since),
		PhaseReason:     a.State.Reason,
		Findings:        findingsToProto(st.Findings),
		Policy:          policyToProto(st.Policy),
		PolicyOverrides: overridesToProto(a.Overrides),
		CreatedAt:       timestamp(a.CreatedAt),

		PhaseRecommendations:   slices.Clone(a.State.Recommendations),
		WarningAcknowledgedAt:  timestamp(a.State.AckedAt),
		WarningAcknowledgement: a.State.AckNote,
		AcknowledgeBy:          timestamp(a.State.AckDue(st.Policy)),
		SuspensionCategory:     pb.SuspensionCategory(a.State.Category),
		RecentReinstatements:   uint32(a.RecentReinstatements(st.At, st.Policy)),
		OpenTicketId:           a.OpenTicket,
	}
	for _, w := range st.Windows {
		out.Windows = append(out.Windows, &pb.WindowStats{
			Name:             w.Window.Name,
			Length:           durationpb.New(w.Window.Length),
			Sends:            w.Sends,
			HardBounces:      w.HardBounces,
			Complaints:       w.Complaints,
			HardBounceRate:   w.HardBounceRate.Value,
			HardBounceRateCi: intervalToProto(w.HardBounceRate),
			ComplaintRate:    w.ComplaintRate.Value,
			ComplaintRateCi:  intervalToProto(w.ComplaintRate),
			Blocks:           w.Blocks,
			BlockRate:        w.BlockRate.Value,
			BlockRateCi:      intervalToProto(w.BlockRate),
			MinSends:         w.Window.MinSends,
			BelowMinVolume:   w.BelowMinVolume,
		})
	}
	return out
}

func bucketsToProto(bs []monitor.Bucket) []*pb.Bucket {
	out := make([]*pb.Bucket, 0, len(bs))
	for _, b := range bs {
		out = append(out, &pb.Bucket{Start: timestamppb.New(b.Start), Sends: uint64(b.Sends),
			HardBounces: uint64(b.HardBounces), Complaints: uint64(b.Complaints), Blocks: uint64(b.Blocks)})
	}
	return out
}

func intervalToProto(r monitor.Rate) *pb.ConfidenceInterval {
	return &pb.ConfidenceInterval{Lower: r.Lower, Upper: r.Upper}
}

func findingsToProto(fs []monitor.Finding) []*pb.Finding {
	out := make([]*pb.Finding, 0, len(fs))
	for _, f := range fs {
		out = append(out, &pb.Finding{
			Metric:          pb.Metric(f.Metric),
			Window:          f.Window,
			Value:           f.Rate.Value,
			Interval:        intervalToProto(f.Rate),
			Threshold:       f.Threshold,
			Severity:        pb.Severity(f.Severity),
			Decision:        pb.Decision(f.Decision),
			Sends:           f.Sends,
			Message:         f.Message,
			Recommendations: slices.Clone(f.Recommendations),
		})
	}
	return out
}

func policyToProto(p monitor.Policy) *pb.Policy {
	out := &pb.Policy{
		HardBounceRate: &pb.Thresholds{Warn: p.HardBounce.Warn, Suspend: p.HardBounce.Suspend},
		ComplaintRate:  &pb.Thresholds{Warn: p.Complaint.Warn, Suspend: p.Complaint.Suspend},
		BlockRate:      &pb.Thresholds{Warn: p.Block.Warn, Suspend: p.Block.Suspend},
		Bucket:         durationpb.New(p.Bucket),
		Decision:       pb.Decision(p.Decision),
		CoolDown:       durationpb.New(p.CoolDown),
	}
	for _, w := range p.Windows {
		out.Windows = append(out.Windows, &pb.WindowPolicy{Name: w.Name, Length: durationpb.New(w.Length), MinSends: w.MinSends})
	}
	return out
}

func overridesToProto(o monitor.Overrides) *pb.PolicyOverrides {
	out := &pb.PolicyOverrides{
		HardBounceWarn:    o.HardBounceWarn,
		HardBounceSuspend: o.HardBounceSuspend,
		ComplaintWarn:     o.ComplaintWarn,
		ComplaintSuspend:  o.ComplaintSuspend,
		BlockWarn:         o.BlockWarn,
		BlockSuspend:      o.BlockSuspend,
		Decision:          pb.Decision(o.Decision),
		MinSends:          o.MinSends,
	}
	if o.CoolDown != 0 {
		out.CoolDown = durationpb.New(o.CoolDown)
	}
	return out
}

// overridesFromProto converts overrides; nil means none (clear them all).
func overridesFromProto(p *pb.PolicyOverrides) (monitor.Overrides, error) {
	o := monitor.Overrides{Decision: monitor.Decision(clampEnum(int32(p.GetDecision())))}
	if p != nil {
		o.HardBounceWarn = clonePtr(p.HardBounceWarn)
		o.HardBounceSuspend = clonePtr(p.HardBounceSuspend)
		o.ComplaintWarn = clonePtr(p.ComplaintWarn)
		o.ComplaintSuspend = clonePtr(p.ComplaintSuspend)
		o.BlockWarn = clonePtr(p.BlockWarn)
		o.BlockSuspend = clonePtr(p.BlockSuspend)
	}
	if len(p.GetMinSends()) > 0 {
		o.MinSends = make(map[string]uint64, len(p.GetMinSends()))
		for k, v := range p.GetMinSends() {
			o.MinSends[k] = v
		}
	}
	if d := p.GetCoolDown(); d != nil {
		if err := d.CheckValid(); err != nil {
			return o, monitor.FieldErrors{{Field: "policy_overrides.cool_down", Reason: "is not a valid duration"}}
		}
		// AsDuration saturates beyond the ±292 years a time.Duration holds
		// instead of wrapping, so the bound refuses those too. A zero is
		// refused here: in the domain it means "keep the global value".
		o.CoolDown = d.AsDuration()
		if reason := monitor.CheckCoolDown(o.CoolDown); reason != "" {
			return o, monitor.FieldErrors{{Field: "policy_overrides.cool_down", Reason: reason}}
		}
	}
	return o, nil
}

// clonePtr copies what p points to, so that the domain shares nothing with
// a request message.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func transitionToProto(t monitor.Transition) *pb.Transition {
	return &pb.Transition{
		AccountId:       t.AccountID,
		OccurredAt:      timestamp(t.At),
		From:            pb.Phase(t.From),
		To:              pb.Phase(t.To),
		Reason:          t.Reason,
		Findings:        findingsToProto(t.Findings),
		Recommendations: slices.Clone(t.Recommendations),
		Actor:           t.Actor,
		Sender:          t.Sender,
		ReasonCode:      pb.ReasonCode(t.Code),
	}
}

func ticketToProto(t *monitor.Ticket) *pb.Ticket {
	c := t.Checklist
	out := &pb.Ticket{
		TicketId: t.ID, AccountId: t.AccountID, State: pb.TicketState(t.State), Description: t.Description,
		Checklist: &pb.Checklist{BouncedAddressesRemoved: c.BouncedAddressesRemoved, ListSource: c.ListSource,
			OptInMethod: c.OptInMethod, ComplaintHandling: c.ComplaintHandling, Authentication: c.Authentication},
		CreatedAt: timestamp(t.CreatedAt), CreatedBy: t.CreatedBy,
		RequiredApprovals: uint32(t.RequiredApprovals), RecentReinstatements: uint32(t.RecentReinstatements),
		ClosedAt: timestamp(t.ClosedAt), ClosedBy: t.ClosedBy, Resolution: t.Resolution, Sender: t.Sender,
	}
	for _, cm := range t.Comments {
		out.Comments = append(out.Comments, &pb.TicketComment{CreatedAt: timestamp(cm.At), Author: cm.Author, Role: cm.Role, Text: cm.Text})
	}
	for _, ap := range t.Approvals {
		out.Approvals = append(out.Approvals, &pb.TicketApproval{ApprovedAt: timestamp(ap.At), Admin: ap.Admin, Note: ap.Note})
	}
	return out
}

func checklistFromProto(c *pb.Checklist) monitor.Checklist {
	return monitor.Checklist{
		BouncedAddressesRemoved: c.GetBouncedAddressesRemoved(), ListSource: c.GetListSource(),
		OptInMethod: c.GetOptInMethod(), ComplaintHandling: c.GetComplaintHandling(), Authentication: c.GetAuthentication(),
	}
}

func auditToProto(e monitor.AuditEntry) *pb.AuditEvent {
	return &pb.AuditEvent{
		OccurredAt: timestamp(e.At), Actor: e.Actor.Name, Role: e.Actor.Role, Action: e.Action,
		AccountId: e.AccountID, TicketId: e.TicketID, Before: e.Before, After: e.After, Detail: e.Detail,
	}
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func recipientToProto(accountID, key string, r monitor.Recipient) *pb.Recipient {
	if r.Status == 0 {
		r.Status = monitor.RecipientActive
	}
	return &pb.Recipient{
		AccountId:   accountID,
		Recipient:   key,
		Status:      pb.RecipientStatus(r.Status),
		Reason:      pb.SuppressionReason(r.Reason),
		Since:       timestamp(r.Since),
		Until:       timestamp(r.Until),
		SoftBlocks:  uint32(r.SoftBlocks),
		HardBounces: uint32(len(r.HardBounces)),
	}
}

func changeToProto(c monitor.RecipientChange) *pb.RecipientChange {
	out := &pb.RecipientChange{
		OccurredAt:  timestamp(c.At),
		Kind:        pb.RecipientChangeKind(c.Kind),
		Status:      pb.RecipientStatus(c.Status),
		Reason:      pb.SuppressionReason(c.Reason),
		Until:       timestamp(c.Until),
		EventId:     c.EventID,
		Actor:       c.Actor,
		Note:        c.Note,
		Description: c.Description,
	}
	if b := c.Bounce; b != nil {
		out.Bounce = &pb.Bounce{SmtpCode: uint32(b.SMTPCode), EnhancedStatus: b.EnhancedStatus, Diagnostic: b.Diagnostic, Class: pb.BounceClass(b.Verdict)}
		out.BounceReason, out.BounceRule = pb.BounceReason(b.Reason), b.Rule
	}
	return out
}

// smtpCode is a reply code from the wire as monitor holds it; the value
// survives whole where int is 64 bits, so a refusal quotes what was sent.
func smtpCode(c uint32) int { return int(min(uint64(c), math.MaxInt)) }
