package main

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// runAccount implements "dpctl account get|list|history".
func runAccount(ctx context.Context, e *env, args []string) error {
	const synopsis = "usage: dpctl account get ID | list [--phase P] [--page-size N] [--all] | history ID [--limit N] |\n" +
		"       suspend ID --category C --note TEXT | ack-warning ID --note TEXT |\n" +
		"       update ID [--bulk-policy on|off|default] [--max-sends-per-day N] [--max-sends-per-second N] |\n" +
		"       unblock-sender ID SENDER --note TEXT | reputation ID [--days N] |\n" +
		"       export [ID...] (settings as YAML) | import FILE (settings from YAML)"
	// The configuration's keys are not the names the API uses, so the
	// help says which is which.
	const windows = "A window is named by its length (24h and 7d by default), as get shows it and as\n" +
		"UpdateAccount's policy_overrides.min_sends names it; the server's configuration\n" +
		"calls the same windows short and long."
	if len(args) == 0 {
		return usageError{fmt.Errorf("account: no subcommand given\n%s", synopsis)}
	}
	switch args[0] {
	case "get":
		return runAccountGet(ctx, e, args[1:])
	case "list":
		return runAccountList(ctx, e, args[1:])
	case "history":
		return runAccountHistory(ctx, e, args[1:])
	case "suspend":
		return runAccountSuspend(ctx, e, args[1:])
	case "ack-warning":
		return runAccountAck(ctx, e, args[1:])
	case "update":
		return runAccountUpdate(ctx, e, args[1:])
	case "unblock-sender":
		return runUnblockSender(ctx, e, args[1:])
	case "reputation":
		return runReputation(ctx, e, args[1:])
	case "export":
		return runAccountExport(ctx, e, args[1:])
	case "import":
		return runAccountImport(ctx, e, args[1:])
	case "-h", "-help", "--help":
		fmt.Fprintln(e.stderr, synopsis+"\n\n"+windows)
		return nil
	}
	return usageError{fmt.Errorf("account: unknown subcommand %q\n%s", args[0], synopsis)}
}

// accountClient connects to the AccountService; the caller must call
// closeConn when done.
func accountClient(e *env) (client dpmonv1.AccountServiceClient, closeConn func(), err error) {
	conn, err := e.dial()
	if err != nil {
		return nil, nil, err
	}
	return dpmonv1.NewAccountServiceClient(conn), func() { conn.Close() }, nil
}

// unaryCtx returns the context of one unary call, bounded by --timeout.
func unaryCtx(ctx context.Context, e *env) (context.Context, context.CancelFunc) {
	if e.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, e.timeout)
}

// runByID is the shape of the commands that take one ID, make one
// AccountService call with it and print the answer (or write it as JSON).
func runByID[R proto.Message](ctx context.Context, e *env, args []string, name string,
	call func(context.Context, dpmonv1.AccountServiceClient, string) (R, error),
	print func(io.Writer, R) error,
) error {
	fs := newFlagSet(e, name, "ID")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (R, error) {
		return call(ctx, dpmonv1.NewAccountServiceClient(conn), operands[0])
	}, print)
}

// unary connects, makes one call bounded by --timeout and prints its
// answer with print, or as JSON with -o json.
func unary[R proto.Message](ctx context.Context, e *env, call func(context.Context, *grpc.ClientConn) (R, error), print func(io.Writer, R) error) error {
	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := unaryCtx(ctx, e)
	defer cancel()
	resp, err := call(ctx, conn)
	if err != nil {
		return err
	}
	if e.output == formatJSON {
		return writeProto(e.stdout, resp)
	}
	return print(e.stdout, resp)
}

// runAccountSuspend implements "dpctl account suspend ID --category C --note TEXT".
func runAccountSuspend(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "account suspend", "ID")
	categoryFlag := fs.String("category", "", "policy_violation, terms_violation, abusive_content, fraud or direct_complaints")
	note := fs.String("note", "", "why, for the account and the audit log (required)")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	category, err := parseEnum(*categoryFlag, "SUSPENSION_CATEGORY_", dpmonv1.SuspensionCategory_value)
	if err != nil {
		return fs.usageErr(err.Error())
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.SuspendAccountResponse, error) {
		return dpmonv1.NewAccountServiceClient(conn).SuspendAccount(ctx, &dpmonv1.SuspendAccountRequest{
			AccountId: operands[0], Category: dpmonv1.SuspensionCategory(category), Note: *note})
	}, func(w io.Writer, r *dpmonv1.SuspendAccountResponse) error { return printAccount(w, r.GetAccount()) })
}

// runAccountAck implements "dpctl account ack-warning ID --note TEXT".
func runAccountAck(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "account ack-warning", "ID")
	note := fs.String("note", "", "what the account is changing (required)")
	operands, err := fs.parseN(args, 1, 1)
	if err != nil {
		return err
	}
	return unary(ctx, e, func(ctx context.Context, conn *grpc.ClientConn) (*dpmonv1.AcknowledgeWarningResponse, error) {
		return dpmonv1.NewAccountServiceClient(conn).AcknowledgeWarning(ctx, &dpmonv1.AcknowledgeWarningRequest{AccountId: operands[0], Note: *note})
	}, func(w io.Writer, r *dpmonv1.AcknowledgeWarningResponse) error { return printAccount(w, r.GetAccount()) })
}
