package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// runClassify implements "dpctl classify [--code N] [--status X.Y.Z] TEXT...".
func runClassify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "classify", "[DIAGNOSTIC TEXT...]")
	code := fs.Uint("code", 0, "the SMTP reply `code`, e.g. 550")
	enhanced := fs.String("status", "", "the enhanced status `code`, e.g. 5.1.1")
	operands, err := fs.parse(args)
	if err != nil {
		return err
	}
	req := &dpmonv1.ClassifyBounceRequest{SmtpCode: uint32(*code), EnhancedStatus: *enhanced, Diagnostic: strings.Join(operands, " ")}
	if req.SmtpCode == 0 && req.EnhancedStatus == "" && req.Diagnostic == "" {
		return fs.usageErr("give the server's reply text, --code or --status")
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.ClassifyBounceResponse, error) {
		return dpmonv1.NewBounceServiceClient(conn).ClassifyBounce(ctx, req)
	}, printClassify)
}

func printClassify(w io.Writer, resp *dpmonv1.ClassifyBounceResponse) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "class\t%s\n", enumName(resp.GetClass().String(), "BOUNCE_CLASS_"))
	fmt.Fprintf(tw, "reason\t%s\n", enumName(resp.GetReason().String(), "BOUNCE_REASON_"))
	fmt.Fprintf(tw, "rule\t%s\n", resp.GetRule())
	return tw.Flush()
}
