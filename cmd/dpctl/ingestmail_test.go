package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dpmon/dpmon/intake"
	"github.com/dpmon/dpmon/monitor/monitortest"
)

// corpusSample is the path of a sample of the shared corpus; this package
// is two levels below the repository's root, one more than CorpusDir
// counts.
func corpusSample(t *testing.T, kind, name string) string {
	t.Helper()
	path := filepath.Join("..", monitortest.CorpusDir, "samples", kind, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("corpus sample: %v", err)
	}
	return path
}

func ingestMailJSON(t *testing.T, args ...string) mailSummary {
	t.Helper()
	stdout, stderr, err := runDpctl(t, append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr)
	}
	var sum mailSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	return sum
}

// TestIngestMailCorpus reads every DSN and ARF sample of the corpus
// through dpctl into a real server, whose clock shows the report's time.
func TestIngestMailCorpus(t *testing.T) {
	for _, tc := range monitortest.ReportSamples {
		path := corpusSample(t, tc.Kind, tc.File)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := intake.ReadReport(bytes.NewReader(data), intake.ReportOptions{Account: "acme"}, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", tc.File, err)
		}
		at := t0
		for _, e := range res.Events {
			at = e.OccurredAt.Add(time.Minute)
		}
		d := startDpmon(t, at)
		sum := ingestMailJSON(t, "--addr", d.addr, "ingest-mail", "--account", "acme", path)
		if sum.Messages != 1 || sum.Accepted != tc.Accepted || sum.Ignored != tc.Ignored || len(sum.Rejections)+len(sum.NotReports)+len(sum.Unmapped) != 0 {
			t.Errorf("%s: got %+v", tc.File, sum)
			continue
		}
		if tc.Accepted > 0 {
			acc := d.account(t, "acme")
			if got := acc.GetReputation().GetAuthFailures(); got != tc.AuthFailures {
				t.Errorf("%s: %d auth failures, want %d", tc.File, got, tc.AuthFailures)
			}
			w := acc.GetWindows()[0]
			if w.GetHardBounces() != tc.HardBounces || w.GetComplaints() != tc.Complaints || w.GetBlocks() != tc.Blocks {
				t.Errorf("%s: %d hard bounces, %d complaints, %d blocks; want %d, %d, %d",
					tc.File, w.GetHardBounces(), w.GetComplaints(), w.GetBlocks(), tc.HardBounces, tc.Complaints, tc.Blocks)
			}
		}
		// The same report delivered twice counts once.
		if again := ingestMailJSON(t, "--addr", d.addr, "ingest-mail", "--account", "acme", path); again.Accepted != 0 || again.Duplicates != tc.Accepted {
			t.Errorf("%s again: got %+v", tc.File, again)
		}
	}
}

func TestIngestMailMailboxes(t *testing.T) {
	d := startDpmon(t, t0)
	at := t0.Add(-time.Minute)
	dir := t.TempDir()
	// A Maildir: new/ and cur/ are read, tmp/ is not.
	maildir := filepath.Join(dir, "Maildir")
	for _, sub := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(maildir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(maildir, "new", "1.eml"), monitortest.DSN("<m1@acme.example>", "a@example.org", "acme", at))
	write(filepath.Join(maildir, "cur", "2.eml:2,S"), monitortest.DSN("<m2@acme.example>", "b@example.org", "acme", at))
	write(filepath.Join(maildir, "tmp", "3.eml"), monitortest.DSN("<m3@acme.example>", "c@example.org", "acme", at))
	// A message that is no report is listed, not taken.
	write(filepath.Join(maildir, "new", "4.eml"), "From: someone@example.com\nSubject: hello\n\nJust a note.\n")
	sum := ingestMailJSON(t, "--addr", d.addr, "ingest-mail", maildir)
	if sum.Messages != 3 || sum.Accepted != 2 || len(sum.NotReports) != 1 || !strings.HasSuffix(sum.NotReports[0].Message, "4.eml") {
		t.Errorf("Maildir: got %+v", sum)
	}

	// An mbox on stdin: the header names the account; a message without
	// one is listed as unmapped.
	mbox := mboxOf(monitortest.DSN("<m5@acme.example>", "e@example.org", "beta", at), monitortest.DSN("<m6@acme.example>", "f@example.org", "", at),
		monitortest.DSN("<m1@acme.example>", "a@example.org", "acme", at))
	stdin := os.Stdin
	t.Cleanup(func() { os.Stdin = stdin })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.WriteString(mbox)
		w.Close()
	}()
	os.Stdin = r
	sum = ingestMailJSON(t, "--addr", d.addr, "ingest-mail")
	if sum.Messages != 3 || sum.Accepted != 1 || sum.Duplicates != 1 || len(sum.Unmapped) != 1 ||
		sum.Unmapped[0].Message != "stdin#2" || sum.Unmapped[0].Recipient != "f@example.org" {
		t.Errorf("mbox: got %+v", sum)
	}
	if got := d.account(t, "beta").GetWindows()[0].GetHardBounces(); got != 1 {
		t.Errorf("beta: %d hard bounces, want 1", got)
	}

	// As a table, with hostile names made safe.
	hostile := filepath.Join(dir, "x\x1b[2J.eml")
	write(hostile, "Subject: not a report\n\nhi\n")
	stdout, _, err := runDpctl(t, "--addr", d.addr, "ingest-mail", hostile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, "\x1b") || !strings.Contains(stdout, "not reports  1") {
		t.Errorf("table: got %q", stdout)
	}
}

// mboxOf writes messages as an mbox (mboxrd) writer does: a "From " line
// before each, and a ">" before each line of a message that would read as
// one.
func mboxOf(messages ...string) string {
	var b strings.Builder
	for _, m := range messages {
		b.WriteString("From MAILER-DAEMON Tue Nov 24 09:59:00 2026\n")
		for line := range strings.Lines(m) {
			if strings.HasPrefix(strings.TrimLeft(line, ">"), "From ") {
				b.WriteByte('>')
			}
			b.WriteString(line)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestMboxReader(t *testing.T) {
	messages := []string{"Subject: one\n\nFrom the top\n>From quoted once\n", "Subject: two\n\nbody\n"}
	r := newMboxReader([]byte(mboxOf(messages...)))
	for i, want := range messages {
		got, err := r.next()
		if err != nil || string(got) != want+"\n" {
			t.Errorf("message %d: got %q, %v; want %q", i+1, got, err, want+"\n")
		}
	}
	if _, err := r.next(); err == nil {
		t.Error("past the end: no error")
	}
}

// FuzzMbox: whatever the messages hold, an mbox written from them reads
// back as the same messages (each with the newline the writer ends it
// with), and any input splits without a panic.
func FuzzMbox(f *testing.F) {
	f.Add("Subject: one\n\nFrom the top\n>From quoted\n", "Subject: two\n\nbody\n")
	f.Add("", "From nobody\n")
	f.Add(">>From x\n\nFrom y\n", "\r\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, m := range []string{a, b} {
			if !strings.HasSuffix(m, "\n") || strings.Contains(m, "\r") || strings.Contains(m, "\x00") {
				return // the writer's contract: whole lines
			}
		}
		r := newMboxReader([]byte(mboxOf(a, b)))
		for i, want := range []string{a, b} {
			got, err := r.next()
			if err != nil || string(got) != want+"\n" {
				t.Fatalf("message %d: got %q, %v; want %q", i+1, got, err, want+"\n")
			}
		}
		if _, err := r.next(); err == nil {
			t.Error("past the end: no error")
		}
		raw := newMboxReader([]byte("From x\n" + a + b))
		for range 10_000 {
			if _, err := raw.next(); err != nil {
				break
			}
		}
	})
}
