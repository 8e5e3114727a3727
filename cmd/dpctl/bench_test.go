package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// benchLastLine is the line scripts read from "dpctl bench".
var benchLastLine = regexp.MustCompile(`^events/s=(\d+) p50=(\S+) p99=(\S+)$`)

// benchCounts is what a bench report says was sent and acknowledged.
type benchCounts struct {
	sent, acknowledged, accepted, duplicates, rejected int
}

var benchCountsLine = regexp.MustCompile(`(?m)^sent (\d+) events in \d+ batches; acknowledged (\d+) in \d+ batches \((\d+) accepted, (\d+) duplicates, (\d+) rejected\)`)

// dpctlBench runs "dpctl bench" with args against addr, checks the format
// of its report and returns its counts.
func dpctlBench(t *testing.T, addr string, args ...string) benchCounts {
	t.Helper()
	stdout, _, err := runDpctl(t, append([]string{"bench", "--addr", addr}, args...)...)
	if err != nil {
		t.Fatalf("%v; output:\n%s", err, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	m := benchLastLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last line %q does not match %v; output:\n%s", lines[len(lines)-1], benchLastLine, stdout)
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Errorf("got events/s=0, want some:\n%s", stdout)
	}
	p50, err50 := time.ParseDuration(m[2])
	p99, err99 := time.ParseDuration(m[3])
	if err50 != nil || err99 != nil || p50 <= 0 || p99 < p50 {
		t.Errorf("latencies p50=%s p99=%s: want durations with 0 < p50 <= p99", m[2], m[3])
	}
	c := benchCountsLine.FindStringSubmatch(stdout)
	if c == nil {
		t.Fatalf("no counts in:\n%s", stdout)
	}
	n := make([]int, len(c)-1)
	for i := range n {
		n[i], _ = strconv.Atoi(c[i+1])
	}
	return benchCounts{sent: n[0], acknowledged: n[1], accepted: n[2], duplicates: n[3], rejected: n[4]}
}

// countedEvents returns how many events the server counts over the
// accounts' 24-hour windows, listing them with dpctl.
func countedEvents(t *testing.T, addr string) (events, accounts int) {
	t.Helper()
	stdout, _, err := runDpctl(t, "account", "list", "--addr", addr, "--all", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list dpmonv1.ListAccountsResponse
	unmarshalOutput(t, stdout, &list)
	for _, a := range list.GetAccounts() {
		if !strings.HasPrefix(a.GetAccountId(), "bench-") {
			t.Errorf("account %s: want only bench-N accounts", a.GetAccountId())
		}
		w := summaryWindow(a)
		if w.GetName() != "24h" {
			t.Fatalf("account %s: got window %q, want 24h", a.GetAccountId(), w.GetName())
		}
		events += int(w.GetSends() + w.GetHardBounces() + w.GetComplaints())
	}
	return events, len(list.GetAccounts())
}

func TestRunBench(t *testing.T) {
	// bench stamps its events with the wall clock; the server's clock is
	// fixed at the start of the test, well within the allowed skew.
	d := startDpmon(t, time.Now())
	got := dpctlBench(t, d.addr, "--duration", "300ms",
		"--accounts", "10", "--batch", "100", "--concurrency", "2", "--inflight", "2")
	// Every event is new and valid, and every one is acknowledged.
	want := benchCounts{sent: got.sent, acknowledged: got.sent, accepted: got.sent}
	if got != want || got.sent == 0 {
		t.Errorf("got %+v, want every event sent accepted, none duplicate or rejected", got)
	}
	events, accounts := countedEvents(t, d.addr)
	if events != got.accepted || accounts == 0 || accounts > 10 {
		t.Errorf("server counts %d events over %d accounts, want the %d accepted over at most 10", events, accounts, got.accepted)
	}

	// A second run uses new IDs: nothing it sends is a duplicate of the first.
	again := dpctlBench(t, d.addr, "--duration", "100ms",
		"--accounts", "10", "--batch", "100", "--concurrency", "2", "--inflight", "2")
	if again.accepted != again.sent || again.duplicates != 0 || again.rejected != 0 {
		t.Errorf("second run: got %+v, want every event accepted", again)
	}
	if events, _ := countedEvents(t, d.addr); events != got.accepted+again.accepted {
		t.Errorf("after two runs the server counts %d events, want %d", events, got.accepted+again.accepted)
	}
}

func TestRunBenchRate(t *testing.T) {
	d := startDpmon(t, time.Now())
	// 4000 events/s for half a second over 2 streams of 100-event batches:
	// each stream sends a batch every 50 ms, 10 in all.
	got := dpctlBench(t, d.addr, "--duration", "500ms",
		"--accounts", "10", "--batch", "100", "--concurrency", "2", "--rate", "4000")
	if got.sent < 1000 || got.sent > 3000 {
		t.Errorf("sent %d events, want about 2000", got.sent)
	}
	if got.accepted != got.sent {
		t.Errorf("got %+v, want every event sent accepted", got)
	}
}

// TestRunBenchSpread: with --spread each event is dated at random over
// that long before it is sent, so the accounts' 24-hour windows count
// only the share of the events that fell in the last day.
func TestRunBenchSpread(t *testing.T) {
	d := startDpmon(t, time.Now())
	got := dpctlBench(t, d.addr, "--duration", "300ms", "--spread", "96h",
		"--accounts", "10", "--batch", "100", "--concurrency", "2", "--inflight", "2")
	if got.sent < 200 || got.accepted != got.sent {
		t.Fatalf("got %+v, want hundreds of events sent, every one accepted", got)
	}
	// A quarter of them fell in the last 24 hours, give or take.
	if events, _ := countedEvents(t, d.addr); events < got.accepted/8 || events > got.accepted/2 {
		t.Errorf("the 24h windows count %d of %d events, want about a quarter", events, got.accepted)
	}
	if _, _, err := runDpctl(t, "bench", "--addr", d.addr, "--spread", "169h"); err == nil {
		t.Error("--spread 169h: want a usage error beyond the longest window")
	}
}

// TestRunBenchCheckSend: beside the streams, --check-send-rate calls
// CheckSend and reports its own line, before the events line scripts read.
func TestRunBenchCheckSend(t *testing.T) {
	d := startDpmon(t, time.Now())
	stdout, _, err := runDpctl(t, "bench", "--addr", d.addr, "--duration", "500ms", "--accounts", "10",
		"--batch", "100", "--concurrency", "2", "--check-send-rate", "200")
	if err != nil {
		t.Fatalf("%v; output:\n%s", err, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) < 2 || !benchLastLine.MatchString(lines[len(lines)-1]) {
		t.Fatalf("output does not end with the events line:\n%s", stdout)
	}
	m := regexp.MustCompile(`^check-send calls/s=(\d+) p50=(\S+) p99=(\S+)$`).FindStringSubmatch(lines[len(lines)-2])
	if m == nil {
		t.Fatalf("no check-send line before the events line:\n%s", stdout)
	}
	if n, _ := strconv.Atoi(m[1]); n < 50 {
		t.Errorf("check-send calls/s=%d, want about 200:\n%s", n, stdout)
	}
	p50, err50 := time.ParseDuration(m[2])
	p99, err99 := time.ParseDuration(m[3])
	if err50 != nil || err99 != nil || p50 <= 0 || p99 < p50 {
		t.Errorf("check-send p50=%s p99=%s: want durations with 0 < p50 <= p99", m[2], m[3])
	}
	if strings.Contains(stdout, "calls failed") {
		t.Errorf("failed CheckSend calls:\n%s", stdout)
	}
}

// TestRunBenchWarmup: what is sent within --warmup is acknowledged and
// counted like the rest, but left out of the measured figures.
func TestRunBenchWarmup(t *testing.T) {
	d := startDpmon(t, time.Now())
	// 2 streams, a 100-event batch every 50 ms each: about 20 batches in
	// the first half second and 20 in the second.
	stdout, _, err := runDpctl(t, "bench", "--addr", d.addr, "--duration", "1s", "--warmup", "500ms",
		"--accounts", "10", "--batch", "100", "--concurrency", "2", "--rate", "4000")
	if err != nil {
		t.Fatalf("%v; output:\n%s", err, stdout)
	}
	c := benchCountsLine.FindStringSubmatch(stdout)
	m := regexp.MustCompile(`measured after a warm-up of 500ms: (\d+) batches, (\d+) events in `).FindStringSubmatch(stdout)
	if c == nil || m == nil {
		t.Fatalf("no counts or no warm-up line in:\n%s", stdout)
	}
	sent, _ := strconv.Atoi(c[1])
	acked, _ := strconv.Atoi(c[3])
	batches, _ := strconv.Atoi(m[1])
	measured, _ := strconv.Atoi(m[2])
	if acked != sent || sent < 3000 {
		t.Errorf("sent %d, acknowledged %d: want about 4000, every one acknowledged", sent, acked)
	}
	if measured != batches*100 || measured < sent/4 || measured > sent*3/4 {
		t.Errorf("measured %d events in %d batches of %d sent: want about half, in whole batches", measured, batches, sent)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if rate := benchLastLine.FindStringSubmatch(lines[len(lines)-1]); rate == nil {
		t.Errorf("no events/s line in:\n%s", stdout)
	} else if n, _ := strconv.Atoi(rate[1]); n < 2000 || n > 8000 {
		t.Errorf("events/s=%d over the measured half: want about 4000", n)
	}

	if _, _, err := runDpctl(t, "bench", "--addr", d.addr, "--duration", "1s", "--warmup", "1s"); err == nil {
		t.Error("a warm-up as long as the run was accepted")
	}
}
