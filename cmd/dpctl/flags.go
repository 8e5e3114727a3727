package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// defaultAddr is where dpmon listens unless told otherwise.
const defaultAddr = "127.0.0.1:7411"

// globals are the options every command accepts, before or after its name.
type globals struct {
	addr    string
	output  format
	timeout time.Duration
	token   string
	tls     bool
	tlsCA   string
	tlsCert string
	tlsKey  string
}

// defaultGlobals returns the global options as they are before any flag
// is parsed; DPMON_ADDR overrides the default address.
func defaultGlobals() globals {
	g := globals{addr: defaultAddr, output: formatTable, timeout: 10 * time.Second}
	if addr := os.Getenv("DPMON_ADDR"); addr != "" {
		g.addr = addr
	}
	g.token = os.Getenv("DPMON_TOKEN")
	return g
}

// register adds the global flags to fs. Values already set become the
// defaults, so "dpctl --addr A cmd" and "dpctl cmd --addr A" both work.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.addr, "addr", g.addr, "dpmon `address` (env DPMON_ADDR)")
	fs.Var(&g.output, "o", "output `format`: table or json")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "deadline of each unary call; how long bench waits for its last answers")
	fs.StringVar(&g.token, "token", g.token, "bearer `token` (env DPMON_TOKEN)")
	fs.BoolVar(&g.tls, "tls", g.tls, "connect with TLS, trusting the system's CAs")
	fs.StringVar(&g.tlsCA, "tls-ca", g.tlsCA, "connect with TLS, trusting this CA `file` (PEM)")
	fs.StringVar(&g.tlsCert, "tls-cert", g.tlsCert, "client certificate `file` (PEM) for mTLS")
	fs.StringVar(&g.tlsKey, "tls-key", g.tlsKey, "client key `file` (PEM) for mTLS")
}

// usageError is returned when the command line is wrong, as opposed to
// a failure of the command itself; the process then exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// flagSet is the command line of one command: its flags, including the
// global ones, and the synopsis shown when it is used wrongly.
type flagSet struct {
	*flag.FlagSet
	synopsis string
}

// newFlagSet returns the flag set of the command called name (e.g.
// "account get"), whose positional arguments are described by operands
// (e.g. "ID"). Parse errors are reported once, by the caller of run; -h
// prints the usage on stderr.
func newFlagSet(e *env, name, operands string) *flagSet {
	fs := &flagSet{
		FlagSet:  flag.NewFlagSet(name, flag.ContinueOnError),
		synopsis: strings.TrimSpace("dpctl " + name + " [flags] " + operands),
	}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: %s\n\nflags:\n", fs.synopsis)
		fs.SetOutput(e.stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	e.globals.register(fs.FlagSet)
	return fs
}

// parse parses args and returns the positional arguments. Unlike
// flag.FlagSet.Parse it accepts flags after positional arguments, as in
// "account history ID --limit 5"; "--" ends the flags.
func (fs *flagSet) parse(args []string) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fs.usageErr(err.Error())
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(operands, rest...), nil
		}
		if len(rest) == 0 {
			return operands, nil
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
}

// parseN is parse for commands taking between min and max positional
// arguments.
func (fs *flagSet) parseN(args []string, min, max int) ([]string, error) {
	operands, err := fs.parse(args)
	if err != nil {
		return nil, err
	}
	if len(operands) < min || len(operands) > max {
		return nil, fs.usageErr(fmt.Sprintf("wrong number of arguments: %q", operands))
	}
	return operands, nil
}

// usageErr returns a usageError carrying msg and the command's synopsis.
func (fs *flagSet) usageErr(msg string) error {
	return usageError{fmt.Errorf("%s: %s\nusage: %s", fs.Name(), msg, fs.synopsis)}
}
