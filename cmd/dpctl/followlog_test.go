package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dpmonv1 "github.com/dpmon/dpmon/api/dpmon/v1"
)

// postfixLog writes the lines Postfix logs, stamped at as syslog does
// (in the local zone) or, with rfc3339, as rsyslog's high-precision
// format does.
type postfixLog struct {
	at      time.Time
	rfc3339 bool
}

func (p postfixLog) line(program, text string) string {
	stamp := p.at.Local().Format("Jan _2 15:04:05")
	if p.rfc3339 {
		stamp = p.at.Format("2006-01-02T15:04:05.000000-07:00")
	}
	return stamp + " mx1 postfix/" + program + ": " + text
}

func (p postfixLog) submitted(q, user string) string {
	return p.line("submission/smtpd[2101]", q+": client=app.acme.example[192.0.2.10], sasl_method=PLAIN, sasl_username="+user)
}

func (p postfixLog) queued(q, sender string) string {
	return p.line("qmgr[1033]", q+": from=<"+sender+">, size=3120, nrcpt=2 (queue active)")
}

func (p postfixLog) sent(q, rcpt string) string {
	return p.line("smtp[2110]", q+": to=<"+rcpt+">, relay=mx.example.org[198.51.100.7]:25, delay=0.8, delays=0.1/0/0.3/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4C3B2A1)")
}

func (p postfixLog) bounced(q, rcpt string) string {
	return p.line("smtp[2110]", q+": to=<"+rcpt+">, relay=mx.example.org[198.51.100.7]:25, delay=0.9, delays=0.1/0/0.3/0.5, dsn=5.1.1, status=bounced (host mx.example.org[198.51.100.7] said: 550 5.1.1 <"+rcpt+">: Recipient address rejected: User unknown (in reply to RCPT TO command))")
}

func (p postfixLog) deferred(q, rcpt string) string {
	return p.line("smtp[2111]", q+": to=<"+rcpt+">, relay=none, delay=30, delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to mx.example.net[203.0.113.9]:25: Connection timed out)")
}

func (p postfixLog) localBounce(q, rcpt string) string {
	user, _, _ := strings.Cut(rcpt, "@")
	return p.line("local[2120]", q+": to=<"+rcpt+">, relay=local, delay=0.1, delays=0.05/0/0/0.05, dsn=5.1.1, status=bounced (unknown user: \""+user+"\")")
}

func (p postfixLog) removed(q string) string { return p.line("qmgr[1033]", q+": removed") }

// bounces are n hard bounces of distinct messages and recipients, the
// first numbered from, all of the same length.
func (p postfixLog) bounces(from, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = p.bounced(fmt.Sprintf("B%09X", from+i), fmt.Sprintf("r%04d@example.org", from+i))
	}
	return lines
}

// writeLog appends lines to the file at path, creating it, each with its
// line break.
func writeLog(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// followLog runs "dpctl follow-log --once" and returns its summary and
// what it said on stderr.
func followLog(t *testing.T, d *dpmon, args ...string) (followSummary, string) {
	t.Helper()
	stdout, stderr, err := runDpctl(t, append([]string{"--addr", d.addr, "follow-log", "--once", "-o", "json"}, args...)...)
	if err != nil {
		t.Fatalf("follow-log %q: %v: %s", args, err, stderr)
	}
	var sum followSummary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	return sum, stderr
}

// hardBounces is the account's count of hard bounces in its shortest
// window, 0 while the server knows no such account.
func (d *dpmon) hardBounces(id string) uint64 {
	resp, err := d.accounts.GetAccount(context.Background(), &dpmonv1.GetAccountRequest{AccountId: id})
	if err != nil {
		return 0
	}
	return resp.GetAccount().GetWindows()[0].GetHardBounces()
}

func TestFollowLogPostfix(t *testing.T) {
	now := time.Now()
	d := startDpmon(t, now)
	trad, rfc := postfixLog{at: now.Add(-10 * time.Minute)}, postfixLog{at: now.Add(-9 * time.Minute), rfc3339: true}
	path := filepath.Join(t.TempDir(), "mail.log")
	writeLog(t, path,
		trad.submitted("A1B2C3D4E5", "beta"),
		trad.queued("A1B2C3D4E5", "news@acme.example"),
		trad.sent("A1B2C3D4E5", "jane@example.org"),
		trad.bounced("A1B2C3D4E5", "nobody@example.org"),
		trad.deferred("A1B2C3D4E5", "bob@example.net"),
		trad.removed("A1B2C3D4E5"),
		rfc.queued("B1B2C3D4E5", "info@Acme.example"),
		rfc.localBounce("B1B2C3D4E5", "ghost@acme.example"),
		rfc.bounced("B1B2C3D4E5", "gone@example.com"),
		rfc.removed("B1B2C3D4E5"),
		"Dec  3 10:15:02 mx1 sshd[881]: Accepted publickey for deploy from 192.0.2.4 port 52144 ssh2",
		trad.line("smtp[2110]", "C1B2C3D4E5: to=<x@example.org>, relay=none, delay=1"),
		trad.queued("D1B2C3D4E5", "news@acme.example"),
		postfixLog{at: now.Add(-10 * 24 * time.Hour), rfc3339: true}.bounced("D1B2C3D4E5", "old@example.org"),
	)
	sum, _ := followLog(t, d, "--format", "postfix", path)
	want := followSummary{Lines: 14, Events: 5, Accepted: 4, Rejected: 1, Skipped: 8, Malformed: 1}
	if sum.Lines != want.Lines || sum.Events != want.Events || sum.Accepted != want.Accepted || sum.Duplicates != 0 || sum.Rejected != want.Rejected ||
		sum.Skipped != want.Skipped || sum.Malformed != want.Malformed || sum.Unmapped != 0 {
		t.Errorf("got %+v, want counts %+v", sum, want)
	}
	if len(sum.Rejections) != 1 || sum.Rejections[0].Line != 14 || sum.Rejections[0].File != path || sum.Rejections[0].Field != "occurred_at" {
		t.Errorf("rejections: got %+v, want line 14's occurred_at", sum.Rejections)
	}
	if len(sum.MalformedLines) != 1 || sum.MalformedLines[0].Line != 12 {
		t.Errorf("malformed: got %+v, want line 12", sum.MalformedLines)
	}
	// By the sender's domain, case folded: the bounces by SMTP and by the
	// local agent are hard, 5.1.1.
	if got := d.account(t, "acme.example").GetWindows()[0].GetHardBounces(); got != 3 {
		t.Errorf("acme.example: %d hard bounces, want 3", got)
	}
	if again, _ := followLog(t, d, "--format", "postfix", path); again.Lines != 0 || again.Events != 0 {
		t.Errorf("run again: got %+v, want nothing read", again)
	}
	// Read anew (another state file), every event is a duplicate.
	other := filepath.Join(t.TempDir(), "other-state")
	if anew, _ := followLog(t, d, "--format", "postfix", "--state", other, path); anew.Accepted != 0 || anew.Duplicates != 4 {
		t.Errorf("read anew: got %+v, want 4 duplicates", anew)
	}

	// By SASL login, with deferrals as soft bounces; a message submitted
	// without one goes to the default account.
	path2 := filepath.Join(t.TempDir(), "mail.log")
	writeLog(t, path2,
		trad.submitted("E1B2C3D4E5", "beta"),
		trad.queued("E1B2C3D4E5", "news@acme.example"),
		trad.bounced("E1B2C3D4E5", "a@example.org"),
		trad.deferred("E1B2C3D4E5", "b@example.net"),
		trad.queued("F1B2C3D4E5", "news@acme.example"),
		trad.bounced("F1B2C3D4E5", "c@example.org"),
	)
	sum, _ = followLog(t, d, "--format", "postfix", "--account-from", "sasl_username", "--default-account", "fallback", "--deferred", path2)
	if sum.Events != 3 || sum.Accepted != 3 {
		t.Errorf("by SASL login: got %+v, want 3 events accepted", sum)
	}
	for account, want := range map[string]uint64{"beta": 1, "fallback": 1, "acme.example": 3} {
		if got := d.account(t, account).GetWindows()[0].GetHardBounces(); got != want {
			t.Errorf("%s: %d hard bounces, want %d", account, got, want)
		}
	}
}

// TestFollowLogRestarts follows a log from cron (--once), across a
// rotation, a line still being written, and a copytruncate: every line
// counts once.
func TestFollowLogRestarts(t *testing.T) {
	now := time.Now()
	d := startDpmon(t, now)
	p := postfixLog{at: now.Add(-5 * time.Minute)}
	dir := t.TempDir()
	path, rotated := filepath.Join(dir, "mail.log"), filepath.Join(dir, "mail.log.1")
	follow := func(step string, lines, accepted int) string {
		t.Helper()
		// From cron: a rotated file written a moment ago is left at once.
		sum, stderr := followLog(t, d, "--format", "postfix", "--default-account", "acme", "--rotate-grace", "0s", path)
		if sum.Lines != lines || sum.Accepted != accepted || sum.Duplicates != 0 {
			t.Errorf("%s: got %+v, want %d lines, %d accepted, no duplicate", step, sum, lines, accepted)
		}
		return stderr
	}

	writeLog(t, path, p.bounces(0, 3)...)
	// Lines read, but whose events no server acknowledged, are read again.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis.Close()
	if _, _, err := runDpctl(t, "--addr", lis.Addr().String(), "follow-log", "--once", "--format", "postfix", "--default-account", "acme", path); err == nil {
		t.Error("no server: no error")
	}
	follow("first run", 3, 3)
	// Lines written before the rotation, and after it by a writer that
	// still had the old file open; then the new file, its last line
	// still being written.
	writeLog(t, path, p.bounces(3, 2)...)
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	writeLog(t, rotated, p.bounces(5, 1)...)
	partial := p.bounces(8, 1)[0]
	if err := os.WriteFile(path, []byte(strings.Join(p.bounces(6, 2), "\n")+"\n"+partial[:40]), 0o644); err != nil {
		t.Fatal(err)
	}
	if stderr := follow("after the rotation", 5, 5); !strings.Contains(stderr, "rotated") {
		t.Errorf("after the rotation: stderr %q, want it to say so", stderr)
	}
	writeLog(t, path, partial[40:])
	follow("the line completed", 1, 1)
	follow("nothing new", 0, 0)

	// copytruncate, with two lines not read yet: the file is copied to
	// path.1, emptied and written anew. The copy holds the line read
	// last: the two are read from it, then the new lines.
	writeLog(t, path, p.bounces(9, 2)...)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rotated, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	writeLog(t, path, p.bounces(11, 2)...)
	if stderr := follow("copied and truncated", 4, 4); !strings.Contains(stderr, "truncated") {
		t.Errorf("copied and truncated: stderr %q, want it to say so", stderr)
	}
	// Truncated without a copy: what was not read is gone, and stderr
	// says so; the file is read from its start.
	writeLog(t, path, p.bounces(13, 1)...)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	writeLog(t, path, p.bounces(14, 1)...)
	if stderr := follow("truncated", 1, 1); !strings.Contains(stderr, "from its start") {
		t.Errorf("truncated: stderr %q, want it to say so", stderr)
	}
	if got := d.hardBounces("acme"); got != 14 {
		t.Errorf("acme: %d hard bounces, want all but the one truncated away, 14", got)
	}
}

// TestFollowLogFollowing follows a log as it is written, rotated and
// truncated, then stops on cancellation, as on SIGTERM.
func TestFollowLogFollowing(t *testing.T) {
	now := time.Now()
	d := startDpmon(t, now)
	p := postfixLog{at: now.Add(-5 * time.Minute)}
	dir := t.TempDir()
	path := filepath.Join(dir, "mail.log")
	writeLog(t, path, p.bounces(0, 3)...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", d.addr, "follow-log", "--format", "postfix", "--default-account", "acme", "--poll", "5ms", "--rotate-grace", "300ms", "-o", "json", path},
			&stdout, &stderr)
	}()
	waitFor := func(step string, n uint64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); d.hardBounces("acme") < n; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("%s: %d hard bounces after 10 s, want %d; stderr %s", step, d.hardBounces("acme"), n, stderr.String())
			}
		}
	}
	waitFor("start", 3)

	// The writer keeps its file open across the rename, and after the
	// new file appears, until it is told to reopen the path: what it
	// writes until then goes to the rotated one, half a line included.
	w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(strings.Join(p.bounces(3, 2), "\n") + "\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	writeLog(t, path, p.bounces(6, 2)...)
	late := p.bounces(5, 1)[0]
	w.WriteString(late[:30])
	time.Sleep(50 * time.Millisecond) // within the grace
	w.WriteString(late[30:] + "\n")
	w.Close()
	waitFor("rotated", 8)

	// copytruncate, and fewer bytes written since than were read.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	writeLog(t, path, p.bounces(8, 1)...)
	waitFor("truncated", 9)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stopped: %v: %s", err, stderr.String())
	}
	var sum followSummary
	if err := json.Unmarshal([]byte(stdout.String()), &sum); err != nil {
		t.Fatalf("%v in %s", err, stdout.String())
	}
	if sum.Lines != 9 || sum.Events != 9 || sum.Accepted != 9 || sum.Duplicates != 0 {
		t.Errorf("got %+v, want 9 lines and events, all accepted once", sum)
	}
	if again, _ := followLog(t, d, "--format", "postfix", "--default-account", "acme", path); again.Lines != 0 {
		t.Errorf("restarted: got %+v, want nothing read again", again)
	}
}

func TestFollowLogKumoMTA(t *testing.T) {
	now := time.Now()
	d := startDpmon(t, now)
	record := func(typ, id, rcpt string, extra string) string {
		return fmt.Sprintf(`{"type":%q,"id":%q,"sender":"news@acme.example","recipient":%q,"queue":"spring:acme@example.org","site":"","size":2048,%s,"timestamp":%d,"created":%d,"num_attempts":0,"meta":{},"headers":{}}`,
			typ, id, rcpt, extra, now.Add(-time.Minute).Unix(), now.Add(-2*time.Minute).Unix())
	}
	ok250 := `"response":{"code":250,"enhanced_code":{"class":2,"subject":0,"detail":0},"content":"OK","command":"."}`
	unknown := `"response":{"code":550,"enhanced_code":{"class":5,"subject":1,"detail":1},"content":"no such user","command":"RCPT TO"}`
	greylisted := `"response":{"code":451,"enhanced_code":{"class":4,"subject":7,"detail":1},"content":"try later","command":"RCPT TO"}`
	feedback := func(typ string) string {
		return ok250 + fmt.Sprintf(`,"feedback_report":{"feedback_type":%q,"user_agent":"FBL/1.0","version":"1","original_mail_from":"news@acme.example","original_rcpto_to":["jane@example.org"],"extensions":{}}`, typ)
	}
	path := filepath.Join(t.TempDir(), "kumo.log")
	writeLog(t, path,
		record("Reception", "a1", "jane@example.org", ok250),
		record("Delivery", "a1", "jane@example.org", ok250),
		record("Bounce", "a1", "nobody@example.org", unknown),
		record("TransientFailure", "a1", "bob@example.net", greylisted),
		record("OOB", "b7", "gone@example.org", unknown),
		record("Feedback", "c3", "fbl@acme.example", feedback("abuse")),
		record("Feedback", "c4", "fbl@acme.example", feedback("opt-out")),
		record("Feedback", "c5", "fbl@acme.example", feedback("not-spam")),
		`{"type":"Delivery","id":`,
	)
	sum, _ := followLog(t, d, "--format", "kumomta", "--deferred", path)
	if sum.Lines != 9 || sum.Events != 6 || sum.Accepted != 6 || sum.Skipped != 2 || sum.Malformed != 1 {
		t.Errorf("got %+v, want 9 lines: 6 events accepted, 2 skipped, 1 malformed", sum)
	}
	w := d.account(t, "acme").GetWindows()[0]
	if w.GetHardBounces() != 2 || w.GetComplaints() != 1 {
		t.Errorf("acme: %d hard bounces and %d complaints, want 2 and 1", w.GetHardBounces(), w.GetComplaints())
	}
}

func TestFollowLogUsage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.log")
	for _, args := range [][]string{
		{path},
		{"--format", "exim", path},
		{"--format", "kumomta", "--account-from", "sasl_username", path},
		{"--format", "kumomta", "--account-from", "meta.", path},
		{"--format", "postfix", "--default-account", "bad\x01id", path},
		{"--format", "postfix", "--poll", "0s", path},
		{"--format", "postfix"},
	} {
		if _, _, err := runDpctl(t, append([]string{"follow-log"}, args...)...); !errors.As(err, new(usageError)) {
			t.Errorf("%q: got %v, want a usageError", args, err)
		}
	}
	if _, _, err := runDpctl(t, "follow-log", "--format", "postfix", path); err == nil || errors.As(err, new(usageError)) {
		t.Errorf("no such file: got %v, want an error", err)
	}
}
