// Command dpctl is the command-line client of dpmon: it ingests events,
// shows accounts and their history, answers whether an account may send,
// and generates load.
//
// Run "dpctl -h" for the list of commands. Every command accepts
// "-o json" to print machine-readable output for scripts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err))
}

// exitCode reports err on stderr and says how the process should exit:
// 0 on success or after -h, 2 when the command line is wrong, 1 otherwise.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "dpctl:", err)
		return 2
	default:
		fmt.Fprintln(os.Stderr, "dpctl:", err)
		return 1
	}
}
