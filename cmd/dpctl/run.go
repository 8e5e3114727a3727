package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dpmon/dpmon/internal/buildinfo"
)

// env is what every command works with: the global options and the
// standard streams.
type env struct {
	globals
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is one dpctl subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands are dpctl's subcommands, in the order the usage lists them.
var commands = []command{
	{"ingest", "send events, one JSON object per line, from a file or stdin", runIngest},
	{"ingest-mail", "read bounce (DSN) and feedback (ARF) reports from files, Maildirs or an mbox, and ingest their events", runIngestMail},
	{"follow-log", "follow a Postfix or KumoMTA log file across rotations and restarts, and ingest its events", runFollowLog},
	{"account", "show accounts: get ID, list, history ID", runAccount},
	{"check-send", "say whether an account may send now, and to which recipients", runCheckSend},
	{"classify", "classify a bounce from its SMTP reply", runClassify},
	{"suppression", "per-recipient suppressions: check, list, get, add, delete, export", runSuppression},
	{"ticket", "reinstatement tickets: create, list, show, comment, approve, reject", runTicket},
	{"audit", "the audit log of state-changing calls, newest first", runAudit},
	{"watch", "follow phase changes live, resuming after a cursor", runWatch},
	{"notifications", "notifications and their delivery: list, retry ID", runNotifications},
	{"hooks", "provider webhooks: unmapped, the events no mapping assigned to an account", runHooks},
	{"bench", "generate load on the event stream and report throughput", runBench},
	{"backup", "copy a consistent snapshot of the server's store into FILE while it serves (admin)", runBackup},
	{"health", "exit 0 when the server serves (gRPC health), for probes and container health checks", runHealth},
	{"version", "print dpctl's version, the commit it was built from and the Go version", runVersion},
}

func runVersion(_ context.Context, e *env, _ []string) error {
	_, err := fmt.Fprintln(e.stdout, "dpctl", buildinfo.Read())
	return err
}

// run runs dpctl with the command-line arguments args (without the program
// name), writing results to stdout and diagnostics to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e := &env{globals: defaultGlobals(), stdin: os.Stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("dpctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() { printUsage(e.stderr, fs) }
	e.globals.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{fmt.Errorf("%w (see dpctl -h)", err)}
	}
	if fs.NArg() == 0 {
		printUsage(e.stderr, fs)
		return usageError{errors.New("no command given")}
	}
	name := fs.Arg(0)
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, e, fs.Args()[1:])
		}
	}
	return usageError{fmt.Errorf("unknown command %q (see dpctl -h)", name)}
}

// printUsage writes the top-level help to w.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: dpctl [flags] command [command flags] [arguments]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nflags (also accepted after the command name):\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprintf(w, "\nRun \"dpctl command -h\" for a command's own flags.\n")
}
