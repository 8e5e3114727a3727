// Command dpmon runs the deliverability-protection monitor: a gRPC service
// that ingests sending events, keeps rolling rates per account and moves
// accounts through healthy, warning, suspended and probation.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/dpmon/dpmon/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch {
	case len(os.Args) == 2 && os.Args[1] == "version":
		fmt.Println("dpmon", buildinfo.Read())
		return
	case len(os.Args) == 3 && os.Args[1] == "config" && os.Args[2] == "defaults":
		if err := writeConfigDefaults(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "dpmon:", err)
			os.Exit(1)
		}
		return
	case len(os.Args) > 1 && os.Args[1] == "restore":
		if err := restore(os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "dpmon:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dpmon:", err)
		os.Exit(1)
	}
}
