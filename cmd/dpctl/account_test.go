package main

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// unmarshalOutput decodes what dpctl printed with -o json into m.
func unmarshalOutput(t *testing.T, stdout string, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal([]byte(stdout), m); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
}

// withoutProse replaces in out the texts the server writes for people
// with placeholders: their wording is the monitor's and tested there,
// while the layout around them is dpctl's. Longer texts go first, since a
// phase reason quotes the findings' messages.
func withoutProse(out string, texts map[string]string) string {
	keys := slices.Collect(maps.Keys(texts))
	slices.SortFunc(keys, func(a, b string) int { return len(b) - len(a) })
	for _, text := range keys {
		if text != "" {
			out = strings.ReplaceAll(out, text, texts[text])
		}
	}
	return out
}

// accountProse maps the prose of acc to placeholders, for withoutProse.
func accountProse(acc *dpmonv1.Account) map[string]string {
	texts := map[string]string{acc.GetPhaseReason(): "<reason>"}
	for _, f := range acc.GetFindings() {
		texts[f.GetMessage()] = "<message>"
		for _, r := range f.GetRecommendations() {
			texts[r] = "<recommendation>"
		}
	}
	return texts
}

func TestRunAccountGet(t *testing.T) {
	d := startDpmon(t, t0)
	t.Setenv("DPMON_ADDR", d.addr)
	d.suspend(t, "acme")

	stdout, _, err := runDpctl(t, "account", "get", "acme")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "run_account_get.golden", withoutProse(stdout, accountProse(d.account(t, "acme"))))

	stdout, _, err = runDpctl(t, "account", "get", "acme", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var resp dpmonv1.GetAccountResponse
	unmarshalOutput(t, stdout, &resp)
	if !proto.Equal(resp.GetAccount(), d.account(t, "acme")) {
		t.Errorf("-o json: got %v, want the server's account %v", resp.GetAccount(), d.account(t, "acme"))
	}

	if _, _, err := runDpctl(t, "account", "get", "nobody"); status.Code(err) != codes.NotFound {
		t.Errorf("get nobody: got %v, want code NotFound", err)
	}
}

func TestRunAccountList(t *testing.T) {
	d := startDpmon(t, t0)
	t.Setenv("DPMON_ADDR", d.addr)
	d.suspend(t, "acme")
	for _, id := range []string{"gamma", "beta", "delta"} {
		d.ingest(t, sends(id, id, 10, t0))
	}

	// ids lists the accounts of a -o json listing, and fails the test if
	// the listing says more follow.
	ids := func(t *testing.T, args ...string) []string {
		t.Helper()
		stdout, _, err := runDpctl(t, append([]string{"account", "list", "-o", "json"}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		var list dpmonv1.ListAccountsResponse
		unmarshalOutput(t, stdout, &list)
		if list.GetNextPageToken() != "" {
			t.Errorf("%q: got next_page_token %q, want none", args, list.GetNextPageToken())
		}
		got := []string{}
		for _, a := range list.GetAccounts() {
			got = append(got, a.GetAccountId())
		}
		return got
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--all", "--page-size", "1"}, []string{"acme", "beta", "delta", "gamma"}},
		{[]string{"--all", "--page-size", "3"}, []string{"acme", "beta", "delta", "gamma"}},
		{[]string{"--phase", "suspended"}, []string{"acme"}},
		{[]string{"--phase", "healthy", "--all", "--page-size", "2"}, []string{"beta", "delta", "gamma"}},
		{[]string{"--phase", "warning"}, []string{}},
	}
	for _, tt := range tests {
		if got := ids(t, tt.args...); !slices.Equal(got, tt.want) {
			t.Errorf("list %q: got %q, want %q", tt.args, got, tt.want)
		}
	}

	// One page at a time, as a table: the hint names the token of the next.
	stdout, stderr, err := runDpctl(t, "account", "list", "--page-size", "2")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "run_account_list.golden", stdout)
	m := regexp.MustCompile(`--page-token (\S+)\n$`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("first page: got stderr %q, want a hint about the next page", stderr)
	}
	if got := ids(t, "--page-size", "2", "--page-token", m[1]); !slices.Equal(got, []string{"delta", "gamma"}) {
		t.Errorf("second page: got %q, want delta and gamma", got)
	}
	if _, _, err := runDpctl(t, "account", "list", "--page-token", "%%%"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad page token: got %v, want code InvalidArgument", err)
	}
}

// driveThroughPhases gives account four transitions, a minute or more
// apart: healthy → warning at t0, back to healthy after the 24-hour
// cool-down, then warning and suspended a minute apart each.
func driveThroughPhases(t *testing.T, d *dpmon, account string) {
	t.Helper()
	step := func(at time.Time, lines []string, want dpmonv1.Phase) {
		t.Helper()
		d.clock.Set(at)
		d.ingest(t, lines)
		if got := d.account(t, account).GetPhase(); got != want {
			t.Fatalf("at %v: got phase %v, want %v", at, got, want)
		}
	}
	// 3 % of 500 sends bounce hard: warning.
	step(t0, append(sends(account, "s1", 500, t0), hardBounces(account, "b1", 15, t0)...), dpmonv1.Phase_PHASE_WARNING)
	// 1000 more sends bring the rate down to 1 %: the cool-down starts.
	step(t0, sends(account, "s2", 1000, t0), dpmonv1.Phase_PHASE_WARNING)
	// A day later the warning clears.
	t1 := t0.Add(24 * time.Hour)
	step(t1, sends(account, "s3", 1, t1), dpmonv1.Phase_PHASE_HEALTHY)
	// 3 % again over the new day: warning; then 9 %: suspended.
	t2 := t1.Add(time.Minute)
	step(t2, append(sends(account, "s4", 500, t2), hardBounces(account, "b4", 15, t2)...), dpmonv1.Phase_PHASE_WARNING)
	t3 := t2.Add(time.Minute)
	step(t3, hardBounces(account, "b5", 30, t3), dpmonv1.Phase_PHASE_SUSPENDED)
}

func TestRunAccountHistory(t *testing.T) {
	d := startDpmon(t, t0)
	t.Setenv("DPMON_ADDR", d.addr)
	driveThroughPhases(t, d, "acme")
	d.ingest(t, sends("beta", "beta", 1, d.clock.Now()))

	stdout, _, err := runDpctl(t, "account", "history", "acme")
	if err != nil {
		t.Fatal(err)
	}
	all, err := d.accounts.ListAccountTransitions(context.Background(), &dpmonv1.ListAccountTransitionsRequest{AccountId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, tr := range all.GetTransitions() {
		reasons[tr.GetReason()] = "<reason>"
	}
	checkGolden(t, "run_account_history.golden", withoutProse(stdout, reasons))

	stdout, _, err = runDpctl(t, "account", "history", "acme", "--limit", "3", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var history dpmonv1.ListAccountTransitionsResponse
	unmarshalOutput(t, stdout, &history)
	var got []string
	for _, tr := range history.GetTransitions() {
		got = append(got, formatTime(tr.GetOccurredAt())+" "+phaseName(tr.GetFrom())+"→"+phaseName(tr.GetTo()))
	}
	want := []string{
		"2026-11-25T10:02:00Z warning→suspended",
		"2026-11-25T10:01:00Z healthy→warning",
		"2026-11-25T10:00:00Z warning→healthy",
	}
	if !slices.Equal(got, want) {
		t.Errorf("--limit 3: got %q, want the newest 3, newest first: %q", got, want)
	}

	// An account without transitions has an empty history.
	stdout, _, err = runDpctl(t, "account", "history", "beta")
	if err != nil || stdout != "TIME  TRANSITION  REASON\n" {
		t.Errorf("beta: got %v and %q, want only the header", err, stdout)
	}
	if _, _, err := runDpctl(t, "account", "history", "nobody"); status.Code(err) != codes.NotFound {
		t.Errorf("history of nobody: got %v, want code NotFound", err)
	}
	if _, _, err := runDpctl(t, "account", "history", "acme", "--limit", "0"); !errors.As(err, new(usageError)) {
		t.Errorf("--limit 0: got %v, want a usageError", err)
	}
}
