package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

func TestRunIngest(t *testing.T) {
	d := startDpmon(t, t0)
	// Batches of 2: e1 e2 | e3 e4 | e1 e5. The server rejects e4, which
	// has no recipient, and finds the second e1 a duplicate.
	stdout, _, err := runDpctl(t, "--addr", d.addr, "ingest", "--batch", "2", "-o", "json", "testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var got ingestSummary
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	want := ingestSummary{
		Events: 6, Batches: 3, Accepted: 4, Duplicates: 1, Rejected: 1,
		Rejections: []rejection{{Line: 5, Field: "recipient", Reason: "is required"}},
	}
	if gotJSON, wantJSON := mustJSON(t, got), mustJSON(t, want); gotJSON != wantJSON {
		t.Errorf("got %s, want %s", gotJSON, wantJSON)
	}
	// What was accepted is what the account counts: e1 and e2 are sends,
	// e3 a hard bounce, e5 a complaint.
	w := d.account(t, "acme").GetWindows()[0]
	if w.GetSends() != 2 || w.GetHardBounces() != 1 || w.GetComplaints() != 1 {
		t.Errorf("acme's %s window: got %d sends, %d hard bounces, %d complaints; want 2, 1, 1",
			w.GetName(), w.GetSends(), w.GetHardBounces(), w.GetComplaints())
	}

	// Everything again, as a table: all duplicates but the rejected one.
	stdout, _, err = runDpctl(t, "ingest", "--addr", d.addr, "testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	wantTable := "accepted    0\nduplicates  5\nrejected    1\n\nLINE  FIELD      REASON\n5     recipient  is required\n"
	if stdout != wantTable {
		t.Errorf("got:\n%s\nwant:\n%s", stdout, wantTable)
	}
	if got := d.account(t, "acme").GetWindows()[0].GetSends(); got != 2 {
		t.Errorf("sends after resending: got %d, want still 2", got)
	}
}

func TestRunIngestStdin(t *testing.T) {
	d := startDpmon(t, t0)
	f, err := os.Open("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	t.Cleanup(func() { os.Stdin = stdin })

	stdout, _, err := runDpctl(t, "--addr", d.addr, "ingest", "-")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout, "accepted    4\nduplicates  1\nrejected    1\n") {
		t.Errorf("got:\n%s\nwant 4 accepted, 1 duplicate, 1 rejected", stdout)
	}
}

func TestRunIngestBadLine(t *testing.T) {
	d := startDpmon(t, t0)
	_, _, err := runDpctl(t, "--addr", d.addr, "ingest", "testdata/bad.jsonl")
	if err == nil || !strings.HasPrefix(err.Error(), "line 3:") {
		t.Errorf("got %v, want an error about line 3", err)
	}
	// Nothing of the batch with the bad line is sent, not even line 1.
	_, err = d.accounts.GetAccount(context.Background(), &dpmonv1.GetAccountRequest{AccountId: "acme"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("acme after a bad line: got %v, want code NotFound", err)
	}

	// In batches of 1, line 1 has gone when line 3 turns out bad: it is
	// acknowledged and reported with the error.
	stdout, _, err := runDpctl(t, "--addr", d.addr, "ingest", "--batch", "1", "-o", "json", "testdata/bad.jsonl")
	if err == nil || !strings.HasPrefix(err.Error(), "line 3:") {
		t.Errorf("--batch 1: got %v, want an error about line 3", err)
	}
	var sum ingestSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	if sum.Events != 1 || sum.Accepted != 1 {
		t.Errorf("--batch 1: got %s, want line 1 sent and accepted", stdout)
	}
	if got := d.account(t, "acme").GetWindows()[0].GetSends(); got != 1 {
		t.Errorf("--batch 1: got %d sends, want 1", got)
	}
}

func TestRunIngestUnavailable(t *testing.T) {
	_, _, err := runDpctl(t, "--addr", "127.0.0.1:1", "ingest", "testdata/events.jsonl")
	if status.Code(err) != codes.Unavailable {
		t.Errorf("got %v, want code Unavailable", err)
	}
}
