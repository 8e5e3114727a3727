package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/dpmon/dpmon/store"
)

// restore makes a snapshot from "dpctl backup" (or the scheduled backups)
// the store of a data directory: dpmon restore --from FILE --data-dir DIR.
// The snapshot is checked first; a directory that is not empty is left
// alone without --force.
func restore(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dpmon restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the snapshot `file` to restore")
	dataDir := fs.String("data-dir", "", "the data `directory` to restore into; a server started on it serves the snapshot")
	force := fs.Bool("force", false, "replace the store already in the data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *dataDir == "" || fs.NArg() > 0 {
		return errors.New("restore: give --from FILE and --data-dir DIR")
	}
	info, err := store.Restore(*from, *dataDir, *force)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "restored %s into %s: %d accounts, schema %d; start dpmon with --data-dir %s\n",
		*from, *dataDir, info.Accounts, info.Schema, *dataDir)
	return err
}
