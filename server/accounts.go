package server

import (
	"context"
	"errors"
	"slices"
	"strconv"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
)

// Limits of account settings.
const (
	maxDisplayNameLen = 256
	maxAdminEmails    = 20
)

// GetAccount returns one account measured now.
func (s *Server) GetAccount(ctx context.Context, req *pb.GetAccountRequest) (*pb.GetAccountResponse, error) {
	if err := checkAccount(ctx, req.GetAccountId()); err != nil {
		return nil, err
	}
	a, err := s.db.Account(ctx, req.GetAccountId())
	if err != nil {
		return nil, s.errorStatus(ctx, "GetAccount", err)
	}
	now := s.clock()
	out := s.accountProto(ctx, a, now)
	out.Buckets = bucketsToProto(a.Buckets(now, s.db.Policy()))
	return &pb.GetAccountResponse{Account: out}, nil
}

// ListAccounts pages through accounts in id order.
func (s *Server) ListAccounts(ctx context.Context, req *pb.ListAccountsRequest) (*pb.ListAccountsResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	phase := monitor.Phase(clampEnum(int32(req.GetPhase())))
	if phase != 0 && !phase.Valid() {
		return nil, invalidArgument(monitor.FieldError{Field: "phase", Reason: "unknown phase " + strconv.Itoa(int(req.GetPhase()))})
	}
	if p := req.GetIdPrefix(); p != "" {
		// A prefix of a valid id is one too.
		if reason := monitor.CheckID(p); reason != "" {
			return nil, invalidArgument(monitor.FieldError{Field: "id_prefix", Reason: reason})
		}
	}
	// A sender scoped to some accounts sees only those.
	accounts, next, err := s.db.Accounts(ctx, store.AccountFilter{Phase: phase, IDs: identity(ctx).accounts, Prefix: req.GetIdPrefix(),
		PageSize: size, PageToken: req.GetPageToken()})
	if err != nil {
		return nil, s.errorStatus(ctx, "ListAccounts", err)
	}
	now := s.clock()
	resp := &pb.ListAccountsResponse{NextPageToken: next}
	for _, a := range accounts {
		out := s.accountProto(ctx, a, now)
		if req.GetIncludeBuckets() {
			out.Buckets = bucketsToProto(a.Buckets(now, s.db.Policy()))
		}
		resp.Accounts = append(resp.Accounts, out)
	}
	return resp, nil
}

// UpdateAccount creates an account or replaces the settings named in the
// update mask. Without a mask, the fields that are set are replaced (AIP-134).
func (s *Server) UpdateAccount(ctx context.Context, req *pb.UpdateAccountRequest) (*pb.UpdateAccountResponse, error) {
	if err := checkAccountID(req.GetAccountId()); err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		if req.GetDisplayName() != "" {
			paths = append(paths, "display_name")
		}
		if len(req.GetAdminEmails()) > 0 {
			paths = append(paths, "admin_emails")
		}
		if req.GetPolicyOverrides() != nil {
			paths = append(paths, "policy_overrides")
		}
		if req.BulkPolicyEnabled != nil {
			paths = append(paths, "bulk_policy_enabled")
		}
		if req.MaxSendsPerDay != nil {
			paths = append(paths, "max_sends_per_day")
		}
		if req.MaxSendsPerSecond != nil {
			paths = append(paths, "max_sends_per_second")
		}
	}
	var fields monitor.FieldErrors
	var overrides monitor.Overrides
	for _, p := range paths {
		switch p {
		case "display_name":
			if reason := monitor.CheckName(req.GetDisplayName(), maxDisplayNameLen); reason != "" {
				fields = append(fields, monitor.FieldError{Field: "display_name", Reason: reason})
			}
		case "admin_emails":
			fields = append(fields, checkAdminEmails(req.GetAdminEmails())...)
		case "policy_overrides":
			o, err := overridesFromProto(req.GetPolicyOverrides())
			if err == nil {
				err = o.Validate(s.db.Policy())
			}
			var fe monitor.FieldErrors
			if errors.As(err, &fe) {
				fields = append(fields, fe...)
			}
			overrides = o
		case "max_sends_per_day":
			fields = append(fields, monitor.Quota{PerDay: req.GetMaxSendsPerDay()}.Validate()...)
		case "max_sends_per_second":
			fields = append(fields, monitor.Quota{PerSecond: req.GetMaxSendsPerSecond()}.Validate()...)
		case "bulk_policy_enabled":
		default:
			fields = append(fields, monitor.FieldError{Field: "update_mask", Reason: "unknown path " + strconv.Quote(p) +
				" (want display_name, admin_emails, policy_overrides, bulk_policy_enabled, max_sends_per_day or max_sends_per_second)"})
		}
	}
	if len(fields) > 0 {
		return nil, invalidArgument(fields...)
	}
	undo, err := s.mayCreate(ctx, s.db.Unknown([]string{req.GetAccountId()}), true)
	if err != nil {
		return nil, err
	}
	a, err := s.db.UpdateAccount(ctx, req.GetAccountId(), actor(ctx), func(a *monitor.Account) error {
		for _, p := range paths {
			switch p {
			case "display_name":
				a.DisplayName = req.GetDisplayName()
			case "admin_emails":
				a.AdminEmails = slices.Compact(slices.Sorted(slices.Values(req.GetAdminEmails())))
			case "policy_overrides":
				a.Overrides = overrides
			case "bulk_policy_enabled":
				// Cleared by the mask without a value: the default again.
				a.Bulk = monitor.BulkChoiceOf(req.BulkPolicyEnabled)
			case "max_sends_per_day":
				a.Quota.PerDay = req.GetMaxSendsPerDay()
			case "max_sends_per_second":
				a.Quota.PerSecond = req.GetMaxSendsPerSecond()
			}
		}
		return nil
	})
	if err != nil {
		undo()
		return nil, s.errorStatus(ctx, "UpdateAccount", err)
	}
	return &pb.UpdateAccountResponse{Account: s.accountProto(ctx, a, s.clock())}, nil
}

func checkAdminEmails(emails []string) monitor.FieldErrors {
	if len(emails) > maxAdminEmails {
		return monitor.FieldErrors{{Field: "admin_emails", Reason: "at most " + strconv.Itoa(maxAdminEmails) + " addresses"}}
	}
	var fields monitor.FieldErrors
	for i, e := range emails {
		if reason := monitor.CheckAddress(e); reason != "" {
			fields = append(fields, monitor.FieldError{Field: "admin_emails[" + strconv.Itoa(i) + "]", Reason: reason})
		}
	}
	return fields
}

// ListAccountTransitions lists an account's phase changes, newest first.
func (s *Server) ListAccountTransitions(ctx context.Context, req *pb.ListAccountTransitionsRequest) (*pb.ListAccountTransitionsResponse, error) {
	if err := checkAccount(ctx, req.GetAccountId()); err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	ts, next, err := s.db.Transitions(ctx, req.GetAccountId(), size, req.GetPageToken())
	if err != nil {
		return nil, s.errorStatus(ctx, "ListAccountTransitions", err)
	}
	resp := &pb.ListAccountTransitionsResponse{NextPageToken: next}
	for _, t := range ts {
		resp.Transitions = append(resp.Transitions, transitionToProto(t))
	}
	return resp, nil
}

// CheckSend answers whether the account may send now and, when asked, to
// which of the given recipients. An account dpmon has not seen yet may
// send: it has no history that could stop it.
func (s *Server) CheckSend(ctx context.Context, req *pb.CheckSendRequest) (*pb.CheckSendResponse, error) {
	// The recipients are checked before the verdict: an account over its
	// quota would otherwise answer RESOURCE_EXHAUSTED to a malformed list.
	keys, bad := recipientKeys(req.GetRecipients())
	if err := checkAccount(ctx, req.GetAccountId(), monitor.SenderErrors(req.GetSender(), false), bad); err != nil {
		return nil, err
	}
	verdict, err := s.sendVerdict(ctx, req.GetAccountId(), req.GetSender())
	if err != nil {
		return nil, err
	}
	resp := verdictToProto(verdict)
	if len(keys) > 0 {
		resp.Recipients, err = s.lookupRecipients(ctx, "CheckSend", req.GetAccountId(), req.GetRecipients(), keys, verdict)
		if err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// sendVerdict answers whether the account, and its sender when given, may
// send now: monitor decides, this converts. A suspension or a blocked
// sender is an answer; a quota used up is RESOURCE_EXHAUSTED, since trying
// again later will do.
func (s *Server) sendVerdict(ctx context.Context, id, sender string) (monitor.SendVerdict, error) {
	now, policy := s.clock(), s.db.Policy()
	var platform uint64
	if sender != "" {
		platform = s.db.PlatformSends(now)
	}
	var v monitor.SendVerdict
	// Read in place: a copy of an account with many senders would cost
	// more than the whole answer.
	err := s.db.ReadAccount(ctx, id, func(a *monitor.Account) {
		v = a.Verdict(now, policy, sender, platform)
	})
	switch {
	case errors.Is(err, monitor.ErrNotFound):
		v = monitor.UnknownAccountVerdict()
	case err != nil:
		return v, s.errorStatus(ctx, "CheckSend", err)
	case v.QuotaExhausted():
		return v, quotaExhausted(id, v.Quota, now)
	}
	return v, nil
}

// checkAccount validates a request on account id, with the violations of
// its other fields, and checks the caller may use the account. It looks
// nothing up: a malformed request gets the same answer whether the
// account exists or not.
func checkAccount(ctx context.Context, id string, fields ...monitor.FieldErrors) error {
	if err := checkRequest(idErrors("account_id", id), slices.Concat(fields...)); err != nil {
		return err
	}
	return checkScope(ctx, id)
}

func checkAccountID(id string) error { return checkRequest(idErrors("account_id", id)) }

// idErrors names field when id is not a valid id.
func idErrors(field, id string) monitor.FieldErrors {
	if reason := monitor.CheckID(id); reason != "" {
		return monitor.FieldErrors{{Field: field, Reason: reason}}
	}
	return nil
}

// checkRequest is INVALID_ARGUMENT naming every violation of a request,
// or nil when there is none.
func checkRequest(violations ...monitor.FieldErrors) error {
	if fields := slices.Concat(violations...); len(fields) > 0 {
		return invalidArgument(fields...)
	}
	return nil
}

func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, invalidArgument(monitor.FieldError{Field: "page_size", Reason: "must not be negative"})
	case n == 0:
		return DefaultPageSize, nil
	}
	return min(int(n), MaxPageSize), nil
}

// AcknowledgeWarning records the account's answer to its warning.
func (s *Server) AcknowledgeWarning(ctx context.Context, req *pb.AcknowledgeWarningRequest) (*pb.AcknowledgeWarningResponse, error) {
	if err := checkAccount(ctx, req.GetAccountId(), monitor.ValidateAcknowledgement(req.GetNote())); err != nil {
		return nil, err
	}
	a, err := s.db.AcknowledgeWarning(ctx, req.GetAccountId(), req.GetNote(), actor(ctx))
	if err != nil {
		return nil, s.errorStatus(ctx, "AcknowledgeWarning", err)
	}
	return &pb.AcknowledgeWarningResponse{Account: s.accountProto(ctx, a, s.clock())}, nil
}

// SuspendAccount suspends an account by an admin's hand.
func (s *Server) SuspendAccount(ctx context.Context, req *pb.SuspendAccountRequest) (*pb.SuspendAccountResponse, error) {
	category := monitor.SuspensionCategory(clampEnum(int32(req.GetCategory())))
	if err := checkRequest(idErrors("account_id", req.GetAccountId()), monitor.ValidateSuspension(category, req.GetNote())); err != nil {
		return nil, err
	}
	a, err := s.db.SuspendAccount(ctx, req.GetAccountId(), category, req.GetNote(), actor(ctx))
	if err != nil {
		return nil, s.errorStatus(ctx, "SuspendAccount", err)
	}
	return &pb.SuspendAccountResponse{Account: s.accountProto(ctx, a, s.clock())}, nil
}
