package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// runSuppression implements "dpctl suppression check|list|get|add|delete|export".
func runSuppression(ctx context.Context, e *env, args []string) error {
	const synopsis = "usage: dpctl suppression check ACCOUNT ADDRESS... | list ACCOUNT [--status S] [--reason R] [--all] |\n" +
		"       get ACCOUNT ADDRESS | add ACCOUNT ADDRESS --note WHY | delete ACCOUNT ADDRESS --note WHY |\n" +
		"       export ACCOUNT [--format csv|jsonl] | import ACCOUNT FILE [--format F]"
	if len(args) == 0 {
		return usageError{fmt.Errorf("suppression: no subcommand given\n%s", synopsis)}
	}
	sub := map[string]func(context.Context, *env, []string) error{
		"check": runSuppressionCheck, "list": runSuppressionList, "get": runSuppressionGet,
		"add": runSuppressionAdd, "delete": runSuppressionDelete, "export": runSuppressionExport, "import": runSuppressionImport,
	}
	if run, ok := sub[args[0]]; ok {
		return run(ctx, e, args[1:])
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, synopsis)
		return nil
	}
	return usageError{fmt.Errorf("suppression: unknown subcommand %q\n%s", args[0], synopsis)}
}

// suppressionCall parses a subcommand's arguments and makes one
// SuppressionService call with them.
func suppressionCall[R proto.Message](ctx context.Context, e *env, fs *flagSet, args []string, min, max int,
	call func(context.Context, dpmonv1.SuppressionServiceClient, []string) (R, error), print func(io.Writer, R) error,
) error {
	operands, err := fs.parseN(args, min, max)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (R, error) {
		return call(ctx, dpmonv1.NewSuppressionServiceClient(conn), operands)
	}, print)
}

func runSuppressionCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "suppression check", "ACCOUNT ADDRESS...")
	return suppressionCall(ctx, e, fs, args, 2, 1001,
		func(ctx context.Context, c dpmonv1.SuppressionServiceClient, ops []string) (*dpmonv1.CheckRecipientsResponse, error) {
			return c.CheckRecipients(ctx, &dpmonv1.CheckRecipientsRequest{AccountId: ops[0], Recipients: ops[1:]})
		},
		func(w io.Writer, resp *dpmonv1.CheckRecipientsResponse) error {
			return printRecipientChecks(w, resp.GetResults())
		})
}

// printRecipientChecks writes one line per address.
func printRecipientChecks(w io.Writer, checks []*dpmonv1.RecipientCheck) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "RECIPIENT\tALLOWED\tSTATUS\tREASON\tUNTIL\n")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.GetRecipient(), yesNo(c.GetAllowed()), statusName(c.GetStatus()),
			reasonName(c.GetReason()), formatTime(c.GetUntil()))
	}
	return tw.Flush()
}

func runSuppressionGet(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "suppression get", "ACCOUNT ADDRESS")
	return suppressionCall(ctx, e, fs, args, 2, 2,
		func(ctx context.Context, c dpmonv1.SuppressionServiceClient, ops []string) (*dpmonv1.GetRecipientResponse, error) {
			return c.GetRecipient(ctx, &dpmonv1.GetRecipientRequest{AccountId: ops[0], Recipient: ops[1]})
		},
		printRecipient)
}

// printRecipient writes a recipient's state, then its history.
func printRecipient(w io.Writer, resp *dpmonv1.GetRecipientResponse) error {
	r := resp.GetRecipient()
	tw := newTable(w)
	fmt.Fprintf(tw, "recipient\t%s\n", r.GetRecipient())
	fmt.Fprintf(tw, "status\t%s\n", statusName(r.GetStatus()))
	fmt.Fprintf(tw, "reason\t%s\n", reasonName(r.GetReason()))
	fmt.Fprintf(tw, "since\t%s\n", formatTime(r.GetSince()))
	fmt.Fprintf(tw, "until\t%s\n", formatTime(r.GetUntil()))
	fmt.Fprintf(tw, "soft blocks\t%d in a row\n", r.GetSoftBlocks())
	fmt.Fprintf(tw, "hard bounces\t%d pending\n", r.GetHardBounces())
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nHISTORY (oldest first)\n")
	for _, c := range resp.GetHistory() {
		fmt.Fprintf(w, "%s  %s  %s\n", formatTime(c.GetOccurredAt()), enumName(c.GetKind().String(), "RECIPIENT_CHANGE_KIND_"), c.GetDescription())
		if id := c.GetEventId(); id != "" {
			fmt.Fprintf(w, "    event %s\n", id)
		}
		if b := c.GetBounce(); b != nil {
			fmt.Fprintf(w, "    reply (code %d, status %s) %s\n", b.GetSmtpCode(), orDash(b.GetEnhancedStatus()), b.GetDiagnostic())
			fmt.Fprintf(w, "    classified %s, %s, by %s\n", enumName(b.GetClass().String(), "BOUNCE_CLASS_"),
				enumName(c.GetBounceReason().String(), "BOUNCE_REASON_"), c.GetBounceRule())
		}
		if c.GetActor() != "" {
			fmt.Fprintf(w, "    by %s: %s\n", c.GetActor(), c.GetNote())
		}
	}
	return nil
}

func runSuppressionAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "suppression add", "ACCOUNT ADDRESS")
	note := fs.String("note", "", "why (required; kept in the history)")
	return suppressionCall(ctx, e, fs, args, 2, 2,
		func(ctx context.Context, c dpmonv1.SuppressionServiceClient, ops []string) (*dpmonv1.AddSuppressionResponse, error) {
			return c.AddSuppression(ctx, &dpmonv1.AddSuppressionRequest{AccountId: ops[0], Recipient: ops[1], Note: *note})
		},
		func(w io.Writer, resp *dpmonv1.AddSuppressionResponse) error {
			return printRecipients(w, []*dpmonv1.Recipient{resp.GetRecipient()})
		})
}

func runSuppressionDelete(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "suppression delete", "ACCOUNT ADDRESS")
	note := fs.String("note", "", "why (required; kept in the history)")
	return suppressionCall(ctx, e, fs, args, 2, 2,
		func(ctx context.Context, c dpmonv1.SuppressionServiceClient, ops []string) (*dpmonv1.DeleteSuppressionResponse, error) {
			return c.DeleteSuppression(ctx, &dpmonv1.DeleteSuppressionRequest{AccountId: ops[0], Recipient: ops[1], Note: *note})
		},
		func(w io.Writer, resp *dpmonv1.DeleteSuppressionResponse) error {
			return printRecipients(w, []*dpmonv1.Recipient{resp.GetRecipient()})
		})
}

func runSuppressionList(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "suppression list", "ACCOUNT")
	statusFlag := fs.String("status", "", "only this `status`: temporarily_blocked or suppressed")
	reasonFlag := fs.String("reason", "", "only this `reason`: hard_bounce, soft_bounce, repeated_soft_bounces, complaint, unsubscribed or manual")
	pageSize := fs.Int("page-size", 0, "recipients per page (0: the server's default)")
	pageToken := fs.String("page-token", "", "continue from this `token`, printed by the previous page")
	all := fs.Bool("all", false, "follow next_page_token to the last page")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	st, err1 := parseEnum(*statusFlag, "RECIPIENT_STATUS_", dpmonv1.RecipientStatus_value)
	reason, err2 := parseEnum(*reasonFlag, "SUPPRESSION_REASON_", dpmonv1.SuppressionReason_value)
	if err := errors.Join(err1, err2); err != nil {
		return fs.usageErr(err.Error())
	}
	req := &dpmonv1.ListSuppressionsRequest{AccountId: operands[0], Status: dpmonv1.RecipientStatus(st),
		Reason: dpmonv1.SuppressionReason(reason), PageSize: int32(*pageSize)}
	list := new(dpmonv1.ListSuppressionsResponse)
	return listing(ctx, e, *pageToken, *all, list, &list.NextPageToken,
		func(ctx context.Context, conn *grpc.ClientConn, token string) (string, error) {
			req.PageToken = token
			page, err := dpmonv1.NewSuppressionServiceClient(conn).ListSuppressions(ctx, req)
			list.Recipients = append(list.Recipients, page.GetRecipients()...)
			return page.GetNextPageToken(), err
		},
		func(w io.Writer, l *dpmonv1.ListSuppressionsResponse) error {
			return printRecipients(w, l.GetRecipients())
		},
		"recipients")
}

// printRecipients writes one line per recipient.
func printRecipients(w io.Writer, rs []*dpmonv1.Recipient) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "RECIPIENT\tSTATUS\tREASON\tSINCE\tUNTIL\n")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.GetRecipient(), statusName(r.GetStatus()), reasonName(r.GetReason()),
			formatTime(r.GetSince()), formatTime(r.GetUntil()))
	}
	return tw.Flush()
}

// runSuppressionExport writes every suppression of an account as dpmon's
// CSV (recipient,reason,since,note), which "suppression import" reads
// back, or as JSON lines, one recipient each, whatever -o says: an export
// is for programs.
func runSuppressionExport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "suppression export", "ACCOUNT")
	statusFlag := fs.String("status", "", "only this `status`: temporarily_blocked or suppressed")
	formatFlag := fs.String("format", "csv", "csv (the suppressed addresses, as import reads them back) or jsonl (every field, one JSON object a line)")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	st, err := parseEnum(*statusFlag, "RECIPIENT_STATUS_", dpmonv1.RecipientStatus_value)
	if err != nil {
		return fs.usageErr(err.Error())
	}
	if *formatFlag != "csv" && *formatFlag != "jsonl" {
		return fs.usageErr("--format must be csv or jsonl")
	}
	if *formatFlag == "csv" && st == 0 {
		// The CSV is what import reads back: suppressions, not the
		// temporary blocks of soft bounces, which end by themselves.
		st = int32(dpmonv1.RecipientStatus_RECIPIENT_STATUS_SUPPRESSED)
	}
	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	stream, err := dpmonv1.NewSuppressionServiceClient(conn).ExportSuppressions(ctx,
		&dpmonv1.ExportSuppressionsRequest{AccountId: operands[0], Status: dpmonv1.RecipientStatus(st)})
	if err != nil {
		return err
	}
	line := protojson.MarshalOptions{UseProtoNames: true}
	out := csv.NewWriter(e.stdout)
	if *formatFlag == "csv" {
		if err := out.Write([]string{"recipient", "reason", "since", "note"}); err != nil {
			return err
		}
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			out.Flush()
			return out.Error()
		}
		if err != nil {
			return err
		}
		if *formatFlag == "csv" {
			if err := writeSuppressionsCSV(out, msg.GetRecipients()); err != nil {
				return err
			}
			continue
		}
		for _, r := range msg.GetRecipients() {
			b, err := line.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(e.stdout, "%s\n", b); err != nil {
				return err
			}
		}
	}
}

func statusName(s dpmonv1.RecipientStatus) string {
	return enumName(s.String(), "RECIPIENT_STATUS_")
}

func reasonName(r dpmonv1.SuppressionReason) string {
	if r == dpmonv1.SuppressionReason_SUPPRESSION_REASON_UNSPECIFIED {
		return "-"
	}
	return enumName(r.String(), "SUPPRESSION_REASON_")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// parseEnum parses an enum value as people write it ("hard_bounce", "hard
// bounce") or by its own name; "" is the unspecified value 0.
func parseEnum(s, prefix string, values map[string]int32) (int32, error) {
	if s == "" {
		return 0, nil
	}
	name := strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", "_"))
	if !strings.HasPrefix(name, prefix) {
		name = prefix + name
	}
	v, ok := values[name]
	if !ok || v == 0 {
		return 0, fmt.Errorf("unknown value %q", s)
	}
	return v, nil
}
