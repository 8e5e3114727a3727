package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exportRows writes n rows of a provider's export format: its documented
// header, then one address per row with what the format says of it.
func exportRows(t *testing.T, format string, n int) string {
	t.Helper()
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var b strings.Builder
	row := map[string]struct {
		header string
		line   func(addr string) string
	}{
		"dpmon-csv": {"recipient,reason,since,note", func(a string) string { return a + ",hard_bounce," + at.Format(time.RFC3339) + ",crm" }},
		"dpmon-jsonl": {"", func(a string) string {
			return `{"recipient":"` + a + `","reason":"unsubscribed","since":"` + at.Format(time.RFC3339) + `"}`
		}},
		"ses-csv":               {"EmailAddress,Reason,LastUpdateTime", func(a string) string { return a + ",BOUNCE," + at.Format(time.RFC3339) }},
		"sendgrid-bounces":      {"created,email,reason,status", func(a string) string { return fmt.Sprint(at.Unix()) + "," + a + ",550 5.1.1 user unknown,5.1.1" }},
		"sendgrid-spam-reports": {"created,email,ip", func(a string) string { return fmt.Sprint(at.Unix()) + "," + a + ",192.0.2.1" }},
		"sendgrid-unsubscribes": {"created,email", func(a string) string { return fmt.Sprint(at.Unix()) + "," + a }},
		"postmark":              {"EmailAddress,SuppressionReason,Origin,CreatedAt", func(a string) string { return a + ",HardBounce,Recipient," + at.Format(time.RFC3339) }},
		"mailgun-bounces":       {"address,code,error,created_at", func(a string) string { return a + `,550,No such mailbox,"` + at.Format(time.RFC1123) + `"` }},
		"mailgun-complaints":    {"address,created_at", func(a string) string { return a + `,"` + at.Format(time.RFC1123) + `"` }},
		"mailgun-unsubscribes":  {"address,tags,created_at", func(a string) string { return a + `,*,"` + at.Format(time.RFC1123) + `"` }},
	}[format]
	if row.line == nil {
		t.Fatalf("no generator for %s", format)
	}
	if row.header != "" {
		b.WriteString(row.header + "\n")
	}
	for i := range n {
		b.WriteString(row.line(fmt.Sprintf("user%d@%s.example.com", i, format)) + "\n")
	}
	path := filepath.Join(t.TempDir(), format+".txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Each provider's export is imported whole, and a second import of the
// same file changes nothing; dpmon's own export reads back the same.
func TestSuppressionImportEveryFormat(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	d := startDpmon(t, now)
	formats := []string{"dpmon-csv", "dpmon-jsonl", "ses-csv", "sendgrid-bounces", "sendgrid-spam-reports", "sendgrid-unsubscribes",
		"postmark", "mailgun-bounces", "mailgun-complaints", "mailgun-unsubscribes"}
	for _, format := range formats {
		const n = 100_000
		t.Run(format, func(t *testing.T) {
			path := exportRows(t, format, n)
			account := "acme-" + format
			d.ingest(t, sends(account, "s", 1, now)) // imports go into accounts dpmon knows
			var first, second importSummary
			for i, sum := range []*importSummary{&first, &second} {
				args := []string{"--addr", d.addr, "-o", "json", "suppression", "import", account, path}
				if format == "sendgrid-bounces" {
					args = append(args, "--format", format) // its columns are the blocks' too
				}
				stdout, _, err := runDpctl(t, args...)
				if err != nil {
					t.Fatalf("import %d: %v", i+1, err)
				}
				if err := json.Unmarshal([]byte(stdout), sum); err != nil {
					t.Fatal(err)
				}
			}
			if first.Format != format || first.Rows != n || first.Added != n || first.Rejected != 0 {
				t.Errorf("first import: %+v, want %d rows added as %s", first, n, format)
			}
			if second.Added != 0 || second.Already != n {
				t.Errorf("second import: %+v, want all %d already suppressed", second, n)
			}
			t.Logf("%s: %d rows in %.2fs, %.0f rows/s", format, n, first.Seconds, first.RowsPerSec)
		})
	}
	// What export writes, import reads back as already there.
	stdout, _, err := runDpctl(t, "--addr", d.addr, "suppression", "export", "acme-postmark")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "export.csv")
	os.WriteFile(path, []byte(stdout), 0o600)
	out, _, err := runDpctl(t, "--addr", d.addr, "-o", "json", "suppression", "import", "acme-postmark", path)
	var again importSummary
	if err != nil || json.Unmarshal([]byte(out), &again) != nil || again.Format != "dpmon-csv" || again.Already != 100_000 || again.Added != 0 {
		t.Errorf("the export imported back: %+v, %v; want all 100,000 already there", again, err)
	}
}
