package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// runAccountGet implements "dpctl account get ID".
func runAccountGet(ctx context.Context, e *env, args []string) error {
	return runByID(ctx, e, args, "account get",
		func(ctx context.Context, c dpmonv1.AccountServiceClient, id string) (*dpmonv1.GetAccountResponse, error) {
			return c.GetAccount(ctx, &dpmonv1.GetAccountRequest{AccountId: id})
		},
		func(w io.Writer, resp *dpmonv1.GetAccountResponse) error { return printAccount(w, resp.GetAccount()) })
}

// printAccount writes one account as people read it: who and where it
// stands, its windows, then what it breaches and what to do about it.
func printAccount(w io.Writer, acc *dpmonv1.Account) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "id\t%s\n", acc.GetAccountId())
	fmt.Fprintf(tw, "name\t%s\n", orDash(acc.GetDisplayName()))
	fmt.Fprintf(tw, "phase\t%s\n", phaseName(acc.GetPhase()))
	fmt.Fprintf(tw, "since\t%s\n", formatTime(acc.GetPhaseSince()))
	fmt.Fprintf(tw, "reason\t%s\n", orDash(acc.GetPhaseReason()))
	if c := acc.GetSuspensionCategory(); c != dpmonv1.SuspensionCategory_SUSPENSION_CATEGORY_UNSPECIFIED {
		fmt.Fprintf(tw, "suspended by hand\t%s\n", enumName(c.String(), "SUSPENSION_CATEGORY_"))
	}
	if acc.GetAcknowledgeBy() != nil {
		fmt.Fprintf(tw, "acknowledge by\t%s (unanswered, the warning then suspends)\n", formatTime(acc.GetAcknowledgeBy()))
	}
	if acc.GetWarningAcknowledgedAt() != nil {
		fmt.Fprintf(tw, "acknowledged\t%s: %s\n", formatTime(acc.GetWarningAcknowledgedAt()), acc.GetWarningAcknowledgement())
	}
	if id := acc.GetOpenTicketId(); id != "" {
		fmt.Fprintf(tw, "open ticket\t%s\n", id)
	}
	if n := acc.GetRecentReinstatements(); n > 0 {
		fmt.Fprintf(tw, "reinstated\t%d times in the last year\n", n)
	}
	if r := acc.GetReputation(); r != nil {
		fmt.Fprintf(tw, "reputation\t%d/100\n", r.GetScore())
		if n := r.GetAuthFailures(); n > 0 {
			fmt.Fprintf(tw, "auth failures\t%d reported in the last %s: fix SPF, DKIM or DMARC\n", n, monitorDuration(r.GetWindow().AsDuration()))
		}
	}
	if len(acc.GetWindows()) > 0 {
		fmt.Fprintf(tw, "\nWINDOW\tSENDS\tHARD BOUNCES\tHARD-BOUNCE RATE (95%% CI)\tCOMPLAINTS\tCOMPLAINT RATE (95%% CI)\tBLOCKS\tBLOCK RATE (95%% CI)\tVOLUME\n")
		for _, win := range acc.GetWindows() {
			volume := "ok"
			if win.GetBelowMinVolume() {
				volume = fmt.Sprintf("below min volume of %d sends", win.GetMinSends())
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%s\t%d\t%s\t%s\n",
				win.GetName(), win.GetSends(),
				win.GetHardBounces(), rateWithCI(win.GetHardBounceRate(), win.GetHardBounceRateCi()),
				win.GetComplaints(), rateWithCI(win.GetComplaintRate(), win.GetComplaintRateCi()),
				win.GetBlocks(), rateWithCI(win.GetBlockRate(), win.GetBlockRateCi()),
				volume)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := printSending(w, acc); err != nil {
		return err
	}
	if recs := acc.GetPhaseRecommendations(); len(recs) > 0 {
		fmt.Fprintf(w, "\nWHAT TO DO\n")
		for _, r := range recs {
			fmt.Fprintf(w, "- %s\n", r)
		}
	}
	if len(acc.GetFindings()) > 0 {
		fmt.Fprintf(w, "\nFINDINGS\n")
		for _, f := range acc.GetFindings() {
			printFinding(w, f)
		}
	}
	return nil
}

// printFinding writes one breach: what was measured against which
// threshold, the message for the owner and the recommendations.
func printFinding(w io.Writer, f *dpmonv1.Finding) {
	fmt.Fprintf(w, "%s: %s over %s is %s, threshold %s (%d sends; %s)\n",
		enumName(f.GetSeverity().String(), "SEVERITY_"),
		enumName(f.GetMetric().String(), "METRIC_"),
		f.GetWindow(),
		rateWithCI(f.GetValue(), f.GetInterval()),
		percent(f.GetThreshold()),
		f.GetSends(),
		decisionName(f.GetDecision()))
	if m := f.GetMessage(); m != "" {
		fmt.Fprintf(w, "  %s\n", m)
	}
	for _, r := range f.GetRecommendations() {
		fmt.Fprintf(w, "  - %s\n", r)
	}
}

// orDash returns s, or "-" when s is blank, so that no table cell is empty.
func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// decisionName says what of a rate was compared with the threshold.
func decisionName(d dpmonv1.Decision) string {
	switch d {
	case dpmonv1.Decision_DECISION_MEASURED:
		return "measured rate compared"
	case dpmonv1.Decision_DECISION_CONFIDENT:
		return "lower bound of the 95% CI compared"
	}
	return enumName(d.String(), "DECISION_")
}
