package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The settings exported from one server, imported into another, make the
// same accounts; every override the API has survives the trip.
func TestAccountSettingsRoundTrip(t *testing.T) {
	from, to := startDpmon(t, t0), startDpmon(t, t0)
	from.ingest(t, sends("acme", "s", 10, t0))
	if _, _, err := runDpctl(t, "--addr", from.addr, "account", "update", "acme", "--bulk-policy", "on", "--max-sends-per-day", "50000"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "settings.yaml")
	os.WriteFile(file, []byte(`accounts:
  - id: acme
    display_name: Acme Newsletters
    admin_emails: [ops@acme.example]
    policy_overrides: {complaint_warn: 0.0005, block_warn: 0.1, min_sends: {24h: 200}, cool_down: 172800s}
    bulk_policy: "on"
    max_sends_per_day: 50000
    max_sends_per_second: 20
  - id: beta
    bulk_policy: "off"
    max_sends_per_day: 0
    max_sends_per_second: 0
`), 0o600)
	if out, _, err := runDpctl(t, "--addr", from.addr, "account", "import", file); err != nil || !strings.Contains(out, "2 accounts") {
		t.Fatalf("import into the first server: %q, %v", out, err)
	}
	exported, _, err := runDpctl(t, "--addr", from.addr, "account", "export")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"display_name: Acme Newsletters", "complaint_warn: 0.0005", "cool_down: 172800s", "24h: \"200\"", "bulk_policy: \"on\"", "max_sends_per_second: 20", "id: beta"} {
		if !strings.Contains(exported, want) {
			t.Errorf("the export lacks %q:\n%s", want, exported)
		}
	}
	again := filepath.Join(t.TempDir(), "exported.yaml")
	os.WriteFile(again, []byte(exported), 0o600)
	if _, _, err := runDpctl(t, "--addr", to.addr, "account", "import", again); err != nil {
		t.Fatal(err)
	}
	if second, _, err := runDpctl(t, "--addr", to.addr, "account", "export"); err != nil || second != exported {
		t.Errorf("the second server's export differs:\n%s\nwant:\n%s (%v)", second, exported, err)
	}
	os.WriteFile(file, []byte("accounts:\n  - id: acme\n    bulk_policy: maybe\n"), 0o600)
	if _, _, err := runDpctl(t, "--addr", to.addr, "account", "import", file); err == nil || !strings.Contains(err.Error(), "bulk_policy") {
		t.Errorf("a bad bulk_policy: %v", err)
	}
}
