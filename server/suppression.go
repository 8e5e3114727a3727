package server

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"strconv"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/store"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Limits of suppression requests.
const (
	// MaxRecipients is the most addresses one check may ask about.
	MaxRecipients = 1000
	// exportPage is how many recipients one export message carries.
	exportPage = 1000
)

// CheckRecipients answers, per address, whether the account may mail it now.
func (s *Server) CheckRecipients(ctx context.Context, req *pb.CheckRecipientsRequest) (*pb.CheckRecipientsResponse, error) {
	keys, bad := recipientKeys(req.GetRecipients())
	if err := checkAccount(ctx, req.GetAccountId(), bad); err != nil {
		return nil, err
	}
	// The recipients alone: whether the account may send is CheckSend's.
	checks, err := s.lookupRecipients(ctx, "CheckRecipients", req.GetAccountId(), req.GetRecipients(), keys, monitor.SendVerdict{Allowed: true})
	if err != nil {
		return nil, err
	}
	return &pb.CheckRecipientsResponse{Results: checks}, nil
}

// recipientKeys returns the keys of the addresses asked about, or the
// violations of all of them, so that a client can fix a batch at once.
func recipientKeys(recipients []string) ([]string, monitor.FieldErrors) {
	if len(recipients) > MaxRecipients {
		return nil, monitor.FieldErrors{{Field: "recipients", Reason: "at most " + strconv.Itoa(MaxRecipients) + " addresses, got " + strconv.Itoa(len(recipients))}}
	}
	keys := make([]string, len(recipients))
	var fields monitor.FieldErrors
	for i, r := range recipients {
		if reason := monitor.CheckAddress(r); reason != "" {
			fields = append(fields, monitor.FieldError{Field: "recipients[" + strconv.Itoa(i) + "]", Reason: reason})
			continue
		}
		keys[i] = monitor.RecipientKey(r)
	}
	return keys, fields
}

// lookupRecipients answers for each recipient, given its key from
// recipientKeys, under the account's verdict v.
func (s *Server) lookupRecipients(ctx context.Context, method, accountID string, recipients, keys []string, v monitor.SendVerdict) ([]*pb.RecipientCheck, error) {
	states, err := s.db.CheckRecipients(ctx, accountID, keys)
	if err != nil {
		return nil, s.errorStatus(ctx, method, err)
	}
	now := s.clock()
	out := make([]*pb.RecipientCheck, len(states))
	for i, st := range states {
		r := st.At(now)
		out[i] = &pb.RecipientCheck{
			Recipient: recipients[i],
			Allowed:   v.MaySendTo(st, now),
			Status:    pb.RecipientStatus(r.Status),
			Reason:    pb.SuppressionReason(r.Reason),
			Until:     timestamp(r.Until),
		}
	}
	return out, nil
}

// ListSuppressions pages through an account's blocked and suppressed
// recipients.
func (s *Server) ListSuppressions(ctx context.Context, req *pb.ListSuppressionsRequest) (*pb.ListSuppressionsResponse, error) {
	filter, err := suppressionFilter(req.GetAccountId(), req.GetStatus(), req.GetReason())
	if err != nil {
		return nil, err
	}
	if err := checkScope(ctx, req.GetAccountId()); err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := base64.RawURLEncoding.DecodeString(req.GetPageToken())
	if err != nil {
		return nil, invalidArgument(monitor.FieldError{Field: "page_token", Reason: "is not a token this service returned"})
	}
	page, next, err := s.db.Suppressions(ctx, req.GetAccountId(), filter, string(after), size, s.clock())
	if err != nil {
		return nil, s.errorStatus(ctx, "ListSuppressions", err)
	}
	resp := &pb.ListSuppressionsResponse{NextPageToken: base64.RawURLEncoding.EncodeToString([]byte(next))}
	for _, sup := range page {
		resp.Recipients = append(resp.Recipients, recipientToProto(req.GetAccountId(), sup.Key, sup.State))
	}
	return resp, nil
}

// ExportSuppressions streams every suppression of an account, a page per
// message, each page read in its own short transaction.
func (s *Server) ExportSuppressions(req *pb.ExportSuppressionsRequest, stream pb.SuppressionService_ExportSuppressionsServer) error {
	ctx := stream.Context()
	filter, err := suppressionFilter(req.GetAccountId(), req.GetStatus(), 0)
	if err != nil {
		return err
	}
	if err := checkScope(ctx, req.GetAccountId()); err != nil {
		return err
	}
	now, after := s.clock(), ""
	for {
		page, next, err := s.db.Suppressions(ctx, req.GetAccountId(), filter, after, exportPage, now)
		if err != nil {
			return s.errorStatus(ctx, "ExportSuppressions", err)
		}
		if len(page) > 0 {
			msg := &pb.ExportSuppressionsResponse{Recipients: make([]*pb.Recipient, len(page))}
			for i, sup := range page {
				msg.Recipients[i] = recipientToProto(req.GetAccountId(), sup.Key, sup.State)
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

func suppressionFilter(accountID string, st pb.RecipientStatus, reason pb.SuppressionReason) (store.SuppressionFilter, error) {
	if err := checkAccountID(accountID); err != nil {
		return store.SuppressionFilter{}, err
	}
	f := store.SuppressionFilter{Status: monitor.RecipientStatus(clampEnum(int32(st))), Reason: monitor.SuppressionReason(clampEnum(int32(reason)))}
	if f.Status == monitor.RecipientActive || f.Status > monitor.RecipientSuppressed {
		return f, invalidArgument(monitor.FieldError{Field: "status", Reason: "must be TEMPORARILY_BLOCKED, SUPPRESSED or unspecified"})
	}
	if f.Reason > monitor.SuppressedSpamTrap {
		return f, invalidArgument(monitor.FieldError{Field: "reason", Reason: "unknown reason " + strconv.Itoa(int(reason))})
	}
	return f, nil
}

// GetRecipient returns a recipient's status and history.
func (s *Server) GetRecipient(ctx context.Context, req *pb.GetRecipientRequest) (*pb.GetRecipientResponse, error) {
	key, err := checkRecipient(req.GetAccountId(), req.GetRecipient())
	if err != nil {
		return nil, err
	}
	if err := checkScope(ctx, req.GetAccountId()); err != nil {
		return nil, err
	}
	r, history, err := s.db.RecipientHistory(ctx, req.GetAccountId(), key)
	if err != nil {
		return nil, s.errorStatus(ctx, "GetRecipient", err)
	}
	resp := &pb.GetRecipientResponse{Recipient: recipientToProto(req.GetAccountId(), key, r.At(s.clock()))}
	for _, c := range history {
		resp.History = append(resp.History, changeToProto(c))
	}
	return resp, nil
}

// AddSuppression suppresses an address by an operator's hand.
func (s *Server) AddSuppression(ctx context.Context, req *pb.AddSuppressionRequest) (*pb.AddSuppressionResponse, error) {
	key, err := checkManual(req.GetAccountId(), req.GetRecipient(), req.GetNote())
	if err != nil {
		return nil, err
	}
	r, err := s.db.SuppressRecipient(ctx, req.GetAccountId(), key, actor(ctx), req.GetNote())
	if err != nil {
		return nil, s.errorStatus(ctx, "AddSuppression", err)
	}
	return &pb.AddSuppressionResponse{Recipient: recipientToProto(req.GetAccountId(), key, r)}, nil
}

// DeleteSuppression lifts a suppression or temporary block by hand.
func (s *Server) DeleteSuppression(ctx context.Context, req *pb.DeleteSuppressionRequest) (*pb.DeleteSuppressionResponse, error) {
	key, err := checkManual(req.GetAccountId(), req.GetRecipient(), req.GetNote())
	if err != nil {
		return nil, err
	}
	r, err := s.db.LiftRecipient(ctx, req.GetAccountId(), key, actor(ctx), req.GetNote())
	if err != nil {
		return nil, s.errorStatus(ctx, "DeleteSuppression", err)
	}
	return &pb.DeleteSuppressionResponse{Recipient: recipientToProto(req.GetAccountId(), key, r)}, nil
}

// checkRecipient validates an account and one address and returns the
// address's key.
func checkRecipient(accountID, recipient string) (string, error) {
	if fields := recipientViolations(accountID, recipient); len(fields) > 0 {
		return "", invalidArgument(fields...)
	}
	return monitor.RecipientKey(recipient), nil
}

func recipientViolations(accountID, recipient string) monitor.FieldErrors {
	var fields monitor.FieldErrors
	if reason := monitor.CheckID(accountID); reason != "" {
		fields = append(fields, monitor.FieldError{Field: "account_id", Reason: reason})
	}
	if reason := monitor.CheckAddress(recipient); reason != "" {
		fields = append(fields, monitor.FieldError{Field: "recipient", Reason: reason})
	}
	return fields
}

// checkManual validates a manual change, which must say why; it reports
// every violation at once.
func checkManual(accountID, recipient, note string) (string, error) {
	if err := checkRequest(recipientViolations(accountID, recipient), monitor.ValidateManualNote(note)); err != nil {
		return "", err
	}
	return monitor.RecipientKey(recipient), nil
}

// maxImportRows bounds one ImportSuppressions call: one commit.
const maxImportRows = 1000

// ImportSuppressions suppresses the rows of a list; bad rows are rejected
// one by one and the others imported, in one commit.
func (s *Server) ImportSuppressions(ctx context.Context, req *pb.ImportSuppressionsRequest) (*pb.ImportSuppressionsResponse, error) {
	if err := checkAccountID(req.GetAccountId()); err != nil {
		return nil, err
	}
	if n := len(req.GetSuppressions()); n > maxImportRows {
		return nil, invalidArgument(monitor.FieldError{Field: "suppressions", Reason: fmt.Sprintf("has %d rows; at most %d a call", n, maxImportRows)})
	}
	if reason := monitor.CheckText(req.GetSource(), maxDisplayNameLen); reason != "" {
		return nil, invalidArgument(monitor.FieldError{Field: "source", Reason: reason})
	}
	// A list is large: a mistyped account must not gather it unseen.
	if len(s.db.Unknown([]string{req.GetAccountId()})) > 0 {
		return nil, status.Errorf(codes.NotFound, "no account %q: suppressions are imported into an account dpmon knows", req.GetAccountId())
	}
	now := s.clock()
	resp := &pb.ImportSuppressionsResponse{}
	rows := make([]monitor.Imported, 0, len(req.GetSuppressions()))
	seen := make(map[string]bool, len(req.GetSuppressions()))
	for i, row := range req.GetSuppressions() {
		im := monitor.Imported{Reason: monitor.SuppressionReason(clampEnum(int32(row.GetReason()))), Note: row.GetNote()}
		if row.GetSince() != nil {
			im.Since = row.GetSince().AsTime()
		}
		fields := monitor.CheckImported(im, now)
		if reason := monitor.CheckAddress(row.GetRecipient()); reason != "" {
			fields = append(monitor.FieldErrors{{Field: "recipient", Reason: reason}}, fields...)
		}
		if len(fields) > 0 {
			resp.Rejected = append(resp.Rejected, &pb.ImportRejection{Index: uint32(i),
				Field: fmt.Sprintf("suppressions[%d].%s", i, fields[0].Field), Reason: fields[0].Reason})
			continue
		}
		im.Key = monitor.RecipientKey(row.GetRecipient())
		if seen[im.Key] {
			resp.Already++ // the same address twice in one call
			continue
		}
		seen[im.Key] = true
		rows = append(rows, im)
	}
	if len(rows) == 0 {
		return resp, nil
	}
	added, err := s.db.ImportSuppressions(ctx, req.GetAccountId(), rows, actor(ctx), cmp.Or(req.GetSource(), "ImportSuppressions"))
	if err != nil {
		return nil, s.errorStatus(ctx, "ImportSuppressions", err)
	}
	resp.Added, resp.Already = uint32(added), resp.Already+uint32(len(rows)-added)
	return resp, nil
}
