package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
)

// runAccountUpdate implements "dpctl account update ID [--bulk-policy
// on|off|default] [--max-sends-per-day N] [--max-sends-per-second N]": only
// the flags given are changed.
func runAccountUpdate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "account update", "ID")
	bulk := fs.String("bulk-policy", "", "on, off, or default (follow the server's configuration)")
	perDay := fs.Uint64("max-sends-per-day", 0, "sends per rolling 24 hours, at most 10000000000; 0 is no limit")
	perSecond := fs.Uint("max-sends-per-second", 0, "sends per second, at most 100000; 0 is no limit")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	req := &dpmonv1.UpdateAccountRequest{AccountId: operands[0], UpdateMask: &fieldmaskpb.FieldMask{}}
	var bad error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "bulk-policy":
			switch *bulk {
			case "on", "off":
				on := *bulk == "on"
				req.BulkPolicyEnabled = &on
			case "default":
			default:
				bad = fs.usageErr("--bulk-policy must be on, off or default")
			}
			req.UpdateMask.Paths = append(req.UpdateMask.Paths, "bulk_policy_enabled")
		case "max-sends-per-day":
			req.MaxSendsPerDay = perDay
			req.UpdateMask.Paths = append(req.UpdateMask.Paths, "max_sends_per_day")
		case "max-sends-per-second":
			n := uint32(min(*perSecond, 1<<32-1))
			req.MaxSendsPerSecond = &n
			req.UpdateMask.Paths = append(req.UpdateMask.Paths, "max_sends_per_second")
		}
	})
	switch {
	case bad != nil:
		return bad
	case len(req.UpdateMask.Paths) == 0:
		return fs.usageErr("nothing to change: give --bulk-policy, --max-sends-per-day or --max-sends-per-second")
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.UpdateAccountResponse, error) {
		return dpmonv1.NewAccountServiceClient(conn).UpdateAccount(ctx, req)
	}, func(w io.Writer, r *dpmonv1.UpdateAccountResponse) error { return printAccount(w, r.GetAccount()) })
}

// runUnblockSender implements "dpctl account unblock-sender ID SENDER --note TEXT".
func runUnblockSender(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "account unblock-sender", "ID SENDER")
	note := fs.String("note", "", "why, for the account and the audit log (required)")
	operands, err := fs.parseN(args, 2, 2)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.UnblockSenderResponse, error) {
		return dpmonv1.NewAccountServiceClient(conn).UnblockSender(ctx, &dpmonv1.UnblockSenderRequest{AccountId: operands[0], Sender: operands[1], Note: *note})
	}, func(w io.Writer, r *dpmonv1.UnblockSenderResponse) error {
		tw := newTable(w)
		printSender(tw, r.GetSender())
		return tw.Flush()
	})
}

// runReputation implements "dpctl account reputation ID [--days N]": the
// score now, what it is made of, and the daily scores.
func runReputation(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "account reputation", "ID")
	days := fs.Int("days", 0, "how many days back, at most 90 (default 90)")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.GetReputationHistoryResponse, error) {
		return dpmonv1.NewAccountServiceClient(conn).GetReputationHistory(ctx, &dpmonv1.GetReputationHistoryRequest{AccountId: operands[0], Days: int32(*days)})
	}, func(w io.Writer, r *dpmonv1.GetReputationHistoryResponse) error {
		if err := printReputation(w, r.GetCurrent()); err != nil {
			return err
		}
		tw := newTable(w)
		fmt.Fprintf(tw, "\nDAY\tSCORE\n")
		for _, d := range r.GetDays() {
			fmt.Fprintf(tw, "%s\t%d\n", d.GetDate(), d.GetScore())
		}
		return tw.Flush()
	})
}

// printReputation writes the score and its components.
func printReputation(w io.Writer, r *dpmonv1.Reputation) error {
	tw := newTable(w)
	level := ""
	if r.GetBelowAlertLevel() {
		level = fmt.Sprintf(", below the alert level of %d", r.GetAlertBelow())
	}
	fmt.Fprintf(tw, "reputation\t%d/100 over %s%s\n", r.GetScore(), monitorDuration(r.GetWindow().AsDuration()), level)
	fmt.Fprintf(tw, "\nFACTOR\tPENALTY\tOF\tWHY\n")
	for _, c := range r.GetComponents() {
		fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%s\n", enumName(c.GetFactor().String(), "REPUTATION_FACTOR_"), c.GetPenalty(), c.GetWeight(), c.GetExplanation())
	}
	return tw.Flush()
}

// printSender writes one sender's bulk-policy state as table rows.
func printSender(tw io.Writer, s *dpmonv1.SenderStatus) {
	state := "may send"
	if s.GetBlocked() {
		state = "blocked since " + formatTime(s.GetBlockedAt())
	}
	fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", s.GetSender(), state, s.GetDistinctRecipients(), s.GetLimit(),
		percent(s.GetBounceShare()), orDash(s.GetOpenTicketId()))
}

// printSending writes what GetAccount says of how the account sends: the
// quota, the reputation and its providers, the bulk policy's senders.
func printSending(w io.Writer, acc *dpmonv1.Account) error {
	tw := newTable(w)
	if q := acc.GetQuota(); q.GetMaxSendsPerDay() > 0 || q.GetMaxSendsPerSecond() > 0 {
		fmt.Fprintf(tw, "\nquota per day\t%s (in effect %s), %d sent in the last 24h\n",
			limitText(q.GetMaxSendsPerDay()), limitText(q.GetEffectiveSendsPerDay()), q.GetSendsLast_24H())
		fmt.Fprintf(tw, "quota per second\t%s (in effect %s)\n",
			limitText(uint64(q.GetMaxSendsPerSecond())), limitText(uint64(q.GetEffectiveSendsPerSecond())))
		if q.GetResumesAt() != nil {
			fmt.Fprintf(tw, "quota used up\tsending may resume at %s\n", formatTime(q.GetResumesAt()))
		}
	}
	if providers := acc.GetProviders(); len(providers) > 0 {
		fmt.Fprintf(tw, "\nPROVIDER\tSENDS\tHARD-BOUNCE RATE\tCOMPLAINT RATE\tBLOCK RATE\n")
		for _, p := range providers {
			if p.GetSends() == 0 && p.GetHardBounces()+p.GetComplaints()+p.GetBlocks() == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", p.GetProvider(), p.GetSends(),
				percent(p.GetHardBounceRate()), percent(p.GetComplaintRate()), percent(p.GetBlockRate()))
		}
	}
	if bp := acc.GetBulkPolicy(); bp.GetEnabled() {
		fmt.Fprintf(tw, "\nbulk policy\ton: at most %d distinct recipients per sender per %s (at least %d), volume factor %.2f\n",
			bp.GetBaseLimit(), monitorDuration(bp.GetWindow().AsDuration()), bp.GetMinLimit(), bp.GetVolumeFactor())
		if len(bp.GetSenders()) > 0 {
			fmt.Fprintf(tw, "\nSENDER\tSTATE\tRECIPIENTS\tLIMIT\tBOUNCE SHARE\tTICKET\n")
			for _, s := range bp.GetSenders() {
				printSender(tw, s)
			}
		}
	}
	return tw.Flush()
}

func limitText(n uint64) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprint(n)
}

// monitorDuration names a duration as the server does: "1h", "7d".
func monitorDuration(d time.Duration) string { return monitor.DurationLabel(d) }
