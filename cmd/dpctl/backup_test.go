package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dpmon/dpmon/store"
)

// dpctl backup writes a checked snapshot, never a partial file under the
// name asked for, and does not replace a file unless told to.
func TestBackupWritesACheckedSnapshot(t *testing.T) {
	d := startDpmon(t, t0)
	d.ingest(t, sends("acme", "s", 100, t0))
	path := filepath.Join(t.TempDir(), "dpmon-backup.db")
	stdout, _, err := runDpctl(t, "--addr", d.addr, "backup", path)
	if err != nil || !strings.HasPrefix(stdout, "wrote "+path+": ") || !strings.Contains(stdout, "1 accounts, checked") {
		t.Fatalf("backup: %q, %v", stdout, err)
	}
	if info, err := store.VerifySnapshot(path); err != nil || info.Accounts != 1 {
		t.Errorf("the snapshot written: %+v, %v", info, err)
	}
	if _, err := os.Stat(path + ".partial"); !os.IsNotExist(err) {
		t.Errorf("the partial file is left behind: %v", err)
	}
	if _, _, err := runDpctl(t, "--addr", d.addr, "backup", path); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a backup over an existing file: %v, want it refused", err)
	}
	if _, _, err := runDpctl(t, "--addr", d.addr, "backup", "--force", path); err != nil {
		t.Errorf("a backup over an existing file with --force: %v", err)
	}
}
