package server

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
)

// violations returns the "field: description" of each BadRequest field
// violation of err, which must be INVALID_ARGUMENT.
func violations(t *testing.T, err error) []string {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("status %v, want INVALID_ARGUMENT", err)
	}
	var out []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out = append(out, v.GetField()+": "+v.GetDescription())
			}
		}
	}
	return out
}

// A malformed request is answered the same whether its account or ticket
// exists or not: INVALID_ARGUMENT naming each bad field, never NOT_FOUND,
// FAILED_PRECONDITION or RESOURCE_EXHAUSTED, which would depend on what
// exists.
func TestMalformedRequestsAnswerAlikeWhateverExists(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// acme is suspended with an open ticket; busy is healthy and over its
	// daily quota, which CheckSend answers before it looks at recipients.
	e.ingest(t, many(1000, send, "acme", "s"))
	e.ingest(t, many(100, hardBounce, "acme", "b"))
	opened, err := e.tickets.CreateTicket(ctx, &pb.CreateTicketRequest{AccountId: "acme", Description: "Removed the bounced addresses."})
	if err != nil {
		t.Fatal(err)
	}
	ticket := opened.GetTicket().GetTicketId()
	_, err = e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "busy", MaxSendsPerDay: ptr(uint64(100)),
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"max_sends_per_day"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.ingest(t, many(100, send, "busy", "s"))
	e.clock.Set(t0.Add(2 * time.Hour))
	if _, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: "busy"}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("setup: CheckSend busy = %v, want RESOURCE_EXHAUSTED", err)
	}

	tests := []struct {
		name   string
		ticket bool   // the id is a ticket's, not an account's
		known  string // the existing account, when not acme
		call   func(id string) error
		fields []string
	}{
		{"UpdateAccount", false, "", func(id string) error {
			_, err := e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: id, AdminEmails: []string{"nope"}})
			return err
		}, []string{"admin_emails[0]"}},
		{"ListAccountTransitions", false, "", func(id string) error {
			_, err := e.accounts.ListAccountTransitions(ctx, &pb.ListAccountTransitionsRequest{AccountId: id, PageSize: -1})
			return err
		}, []string{"page_size"}},
		{"CheckSend", false, "busy", func(id string) error {
			_, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: id, Sender: "not an address", Recipients: []string{"@example.org"}})
			return err
		}, []string{"sender", "recipients[0]"}},
		{"CheckSend recipients", false, "busy", func(id string) error {
			_, err := e.accounts.CheckSend(ctx, &pb.CheckSendRequest{AccountId: id, Recipients: []string{"@example.org"}})
			return err
		}, []string{"recipients[0]"}},
		{"AcknowledgeWarning", false, "", func(id string) error {
			_, err := e.accounts.AcknowledgeWarning(ctx, &pb.AcknowledgeWarningRequest{AccountId: id})
			return err
		}, []string{"note"}},
		{"SuspendAccount", false, "", func(id string) error {
			_, err := e.accounts.SuspendAccount(ctx, &pb.SuspendAccountRequest{AccountId: id, Category: 999})
			return err
		}, []string{"category", "note"}},
		{"UnblockSender", false, "", func(id string) error {
			_, err := e.accounts.UnblockSender(ctx, &pb.UnblockSenderRequest{AccountId: id})
			return err
		}, []string{"sender", "note"}},
		{"UnblockSender note", false, "", func(id string) error {
			_, err := e.accounts.UnblockSender(ctx, &pb.UnblockSenderRequest{AccountId: id, Sender: "news@acme.example"})
			return err
		}, []string{"note"}},
		{"GetReputationHistory", false, "", func(id string) error {
			_, err := e.accounts.GetReputationHistory(ctx, &pb.GetReputationHistoryRequest{AccountId: id, Days: 91})
			return err
		}, []string{"days"}},
		{"WatchTransitions", false, "", func(id string) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stream, err := e.accounts.WatchTransitions(ctx, &pb.WatchTransitionsRequest{AccountId: id, Phase: 99})
			if err == nil {
				_, err = stream.Recv()
			}
			return err
		}, []string{"phase"}},
		{"CheckRecipients", false, "", func(id string) error {
			_, err := e.suppress.CheckRecipients(ctx, &pb.CheckRecipientsRequest{AccountId: id, Recipients: []string{"ok@example.org", "nope"}})
			return err
		}, []string{"recipients[1]"}},
		{"ListSuppressions", false, "", func(id string) error {
			_, err := e.suppress.ListSuppressions(ctx, &pb.ListSuppressionsRequest{AccountId: id, Status: pb.RecipientStatus_RECIPIENT_STATUS_ACTIVE})
			return err
		}, []string{"status"}},
		{"GetRecipient", false, "", func(id string) error {
			_, err := e.suppress.GetRecipient(ctx, &pb.GetRecipientRequest{AccountId: id, Recipient: "nope"})
			return err
		}, []string{"recipient"}},
		{"AddSuppression", false, "", func(id string) error {
			_, err := e.suppress.AddSuppression(ctx, &pb.AddSuppressionRequest{AccountId: id, Recipient: "jane@example.com"})
			return err
		}, []string{"note"}},
		{"DeleteSuppression", false, "", func(id string) error {
			_, err := e.suppress.DeleteSuppression(ctx, &pb.DeleteSuppressionRequest{AccountId: id, Recipient: "nope"})
			return err
		}, []string{"recipient", "note"}},
		{"ExportSuppressions", false, "", func(id string) error {
			stream, err := e.suppress.ExportSuppressions(ctx, &pb.ExportSuppressionsRequest{AccountId: id, Status: 99})
			if err == nil {
				_, err = stream.Recv()
			}
			return err
		}, []string{"status"}},
		{"CreateTicket", false, "", func(id string) error {
			_, err := e.tickets.CreateTicket(ctx, &pb.CreateTicketRequest{AccountId: id, Checklist: &pb.Checklist{ListSource: "bought\x00"}, Sender: "nope"})
			return err
		}, []string{"description", "checklist.list_source", "sender"}},
		{"CreateTicket description", false, "", func(id string) error {
			_, err := e.tickets.CreateTicket(ctx, &pb.CreateTicketRequest{AccountId: id, Sender: "news@acme.example"})
			return err
		}, []string{"description"}},
		{"ListTickets", false, "", func(id string) error {
			_, err := e.tickets.ListTickets(ctx, &pb.ListTicketsRequest{AccountId: id, State: 99})
			return err
		}, []string{"state"}},
		{"AddTicketComment", true, "", func(id string) error {
			_, err := e.tickets.AddTicketComment(ctx, &pb.AddTicketCommentRequest{TicketId: id, Text: " "})
			return err
		}, []string{"text"}},
		{"ApproveTicket", true, "", func(id string) error {
			_, err := e.tickets.ApproveTicket(ctx, &pb.ApproveTicketRequest{TicketId: id, Note: "Checked\x00"})
			return err
		}, []string{"note"}},
		{"RejectTicket", true, "", func(id string) error {
			_, err := e.tickets.RejectTicket(ctx, &pb.RejectTicketRequest{TicketId: id})
			return err
		}, []string{"reason"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			known, unknown := "acme", "nobody"
			switch {
			case tc.ticket:
				known, unknown = ticket, "tkt-99999999"
			case tc.known != "":
				known = tc.known
			}
			got := violations(t, tc.call(known))
			if again := violations(t, tc.call(unknown)); !slices.Equal(again, got) {
				t.Errorf("unknown %s: got %q, want %q as for %s", unknown, again, got, known)
			}
			var fields []string
			for _, v := range got {
				field, _, _ := strings.Cut(v, ": ")
				fields = append(fields, field)
			}
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("violations %q, want one on each of %q", got, tc.fields)
			}
		})
	}
}

// UpdateAccount names the windows as GetAccount shows them, and bounds
// every override and quota to what a real platform may need, saying the
// range; the boundaries themselves are accepted.
func TestUpdateAccountBoundsOverridesAndQuotas(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	overrides := func(o *pb.PolicyOverrides) error {
		_, err := e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "acme", PolicyOverrides: o})
		return err
	}
	for _, tc := range []struct {
		name   string
		err    error
		field  string
		reason []string
	}{
		{"the configuration's key for a window", overrides(&pb.PolicyOverrides{MinSends: map[string]uint64{"short": 10}}),
			"policy_overrides.min_sends", []string{`"short"`, `"24h"`, `"7d"`}},
		{"a minimum of 2^64-1", overrides(&pb.PolicyOverrides{MinSends: map[string]uint64{"24h": math.MaxUint64}}),
			"policy_overrides.min_sends", []string{"from 1 to 10000000"}},
		{"no minimum", overrides(&pb.PolicyOverrides{MinSends: map[string]uint64{"7d": 0}}),
			"policy_overrides.min_sends", []string{"from 1 to 10000000"}},
		{"a cool-down of a month and a second", overrides(&pb.PolicyOverrides{CoolDown: durationpb.New(30*24*time.Hour + time.Second)}),
			"policy_overrides.cool_down", []string{"positive", "at most 30d"}},
		// 10,000 years is a valid Duration but beyond what time.Duration holds.
		{"the longest protobuf duration", overrides(&pb.PolicyOverrides{CoolDown: &durationpb.Duration{Seconds: 315_576_000_000}}),
			"policy_overrides.cool_down", []string{"at most 30d"}},
		{"a zero cool-down", overrides(&pb.PolicyOverrides{CoolDown: &durationpb.Duration{}}),
			"policy_overrides.cool_down", []string{"positive"}},
		{"an invalid duration", overrides(&pb.PolicyOverrides{CoolDown: &durationpb.Duration{Seconds: math.MaxInt64}}),
			"policy_overrides.cool_down", []string{"not a valid duration"}},
		{"a daily quota of 2^64-1", func() error {
			_, err := e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "acme", MaxSendsPerDay: ptr(uint64(math.MaxUint64))})
			return err
		}(), "max_sends_per_day", []string{"0 (no limit)", "from 1 to 10000000000"}},
		{"a quota per second above the bound", func() error {
			_, err := e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "acme", MaxSendsPerSecond: ptr(uint32(100_001))})
			return err
		}(), "max_sends_per_second", []string{"0 (no limit)", "from 1 to 100000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := violations(t, tc.err)
			if len(got) != 1 || !strings.HasPrefix(got[0], tc.field+": ") {
				t.Fatalf("violations %q, want one on %s", got, tc.field)
			}
			for _, w := range tc.reason {
				if !strings.Contains(got[0], w) {
					t.Errorf("%q does not say %q", got[0], w)
				}
			}
		})
	}

	resp, err := e.accounts.UpdateAccount(ctx, &pb.UpdateAccountRequest{
		AccountId: "acme",
		PolicyOverrides: &pb.PolicyOverrides{
			MinSends: map[string]uint64{"24h": 1, "7d": 10_000_000},
			CoolDown: durationpb.New(30 * 24 * time.Hour),
		},
		MaxSendsPerDay:    ptr(uint64(10_000_000_000)),
		MaxSendsPerSecond: ptr(uint32(100_000)),
	})
	if err != nil {
		t.Fatalf("the boundaries: %v", err)
	}
	a := resp.GetAccount()
	if ws := a.GetWindows(); ws[0].GetName() != "24h" || ws[0].GetMinSends() != 1 || ws[1].GetName() != "7d" || ws[1].GetMinSends() != 10_000_000 {
		t.Errorf("windows %v, want 24h at 1 and 7d at 10000000", ws)
	}
	if a.GetPolicy().GetCoolDown().AsDuration() != 30*24*time.Hour {
		t.Errorf("cool-down %v, want 720h", a.GetPolicy().GetCoolDown())
	}
	if q := a.GetQuota(); q.GetMaxSendsPerDay() != 10_000_000_000 || q.GetMaxSendsPerSecond() != 100_000 {
		t.Errorf("quota %v, want the bounds", q)
	}
}
