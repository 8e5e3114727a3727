package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/internal/browsertest"
	"github.com/dpmon/dpmon/internal/testnet"
	"github.com/dpmon/dpmon/internal/testpki"
)

// hardBouncesOf are n hard bounces of account, now, each to an address of
// its own.
func hardBouncesOf(account, prefix string, n int) []*pb.Event {
	now := timestamppb.Now()
	evs := make([]*pb.Event, n)
	for i := range evs {
		evs[i] = &pb.Event{EventId: fmt.Sprint(prefix, i), AccountId: account, Type: pb.EventType_EVENT_TYPE_BOUNCE, OccurredAt: now,
			Recipient: fmt.Sprintf("%s%d@example.com", prefix, i), Bounce: &pb.Bounce{SmtpCode: 550, EnhancedStatus: "5.1.1", Diagnostic: "5.1.1 user unknown"}}
	}
	return evs
}

// browserUser is one person signed in to the console in a tab of their own
// (their own cookies).
type browserUser struct {
	t    *testing.T
	name string
	tab  context.Context
	errs *browsertest.Console
	base string
}

// signIn opens a tab and signs in with token through the form.
func signIn(t *testing.T, browser context.Context, base, name, token string) *browserUser {
	t.Helper()
	u := &browserUser{t: t, name: name, tab: browsertest.NewTab(t, browser), base: base}
	u.errs = browsertest.WatchConsole(t, u.tab)
	u.open("/ui/")
	if got := u.path(); got != "/ui/login" {
		t.Fatalf("%s: / before signing in went to %s, want /ui/login", name, got)
	}
	u.do(chromedp.SetValue(chromedp.ID("token"), token))
	u.submit(`form button[type="submit"]`)
	if got := u.path(); got != "/ui/" {
		t.Fatalf("%s: signed in to %s, want /ui/ (%q)", name, got, u.text("main"))
	}
	return u
}

func (u *browserUser) do(steps ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	if err := chromedp.Do(u.tab, steps...); err != nil {
		u.t.Fatalf("%s: %v", u.name, err)
	}
}

func (u *browserUser) open(path string) {
	u.t.Helper()
	u.do(chromedp.Navigate(u.base+path), chromedp.WaitReady(chromedp.CSS("main")))
}

func (u *browserUser) path() string {
	u.t.Helper()
	p, err := chromedp.Run(u.tab, chromedp.Evaluate[string](`location.pathname`))
	if err != nil {
		u.t.Fatalf("%s: %v", u.name, err)
	}
	return p
}

// submit clicks a form's button and waits for the page it leads to: a
// mark left on the page before the click is gone once the next one loads.
func (u *browserUser) submit(button string) {
	u.t.Helper()
	if _, err := chromedp.Run(u.tab, chromedp.Evaluate[bool](`window.beforeSubmit = true`)); err != nil {
		u.t.Fatal(err)
	}
	u.do(chromedp.Click(chromedp.CSS(button)))
	u.waitFor(`!window.beforeSubmit && document.readyState === "complete"`)
}

// waitFor evaluates cond until it holds. An evaluation that meets a page
// being replaced fails, and is tried again.
func (u *browserUser) waitFor(cond string) {
	u.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(u.tab, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("%s: %s did not hold within 20s (%v)", u.name, cond, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (u *browserUser) text(sel string) string {
	u.t.Helper()
	s, err := chromedp.Run(u.tab, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)))
	if err != nil {
		u.t.Fatalf("%s: text of %s: %v", u.name, sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

func (u *browserUser) has(sel string) bool {
	u.t.Helper()
	ok, err := chromedp.Run(u.tab, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, sel)))
	if err != nil {
		u.t.Fatalf("%s: %v", u.name, err)
	}
	return ok
}

// post sends a form from the page with fetch, as a script or a crafted
// page of the same origin would, with the session's CSRF token or
// without; it returns the status of the answer (after redirects).
func (u *browserUser) post(path string, fields map[string]string, withCSRF bool) int {
	u.t.Helper()
	body, _ := json.Marshal(fields)
	js := fmt.Sprintf(`(async () => {
		const form = new URLSearchParams(%s);
		const csrf = document.querySelector('form.who input[name="csrf"]');
		if (%t) form.set("csrf", csrf.value);
		const r = await fetch(%q, {method: "POST", body: form, credentials: "same-origin"});
		return r.status;
	})()`, body, withCSRF, path)
	code, err := chromedp.Run(u.tab, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
	if err != nil {
		u.t.Fatalf("%s: posting %s: %v", u.name, path, err)
	}
	return code
}

func (u *browserUser) screenshot(name string) {
	u.t.Helper()
	browsertest.Screenshot(u.t, u.tab, "console_"+name)
}

// The console end to end, in a real browser against a real server: an
// admin watches an account suspended by ingested events arrive live, a
// sender opens a ticket from the account's page, the admins approve it and
// the account shows probation; a viewer's and another sender's attempts to
// act are refused, through the pages and by posting the forms directly,
// and a form without its CSRF token is refused too.
func TestConsoleEndToEnd(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("tokens:\n"+
		"  - {name: ops-alice, sha256: "+sha256Hex("alice-token")+", role: admin, create_accounts: true}\n"+
		"  - {name: ops-bob, sha256: "+sha256Hex("bob-token")+", role: admin}\n"+
		"  - {name: auditor, sha256: "+sha256Hex("viewer-token")+", role: viewer}\n"+
		"  - {name: platform-a, sha256: "+sha256Hex("sender-a-token")+", role: sender, accounts: [acme]}\n"+
		"  - {name: platform-b, sha256: "+sha256Hex("sender-b-token")+", role: sender, accounts: [other]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A second reinstatement within the year needs two admins.
	config := filepath.Join(dir, "dpmon.yaml")
	if err := os.WriteFile(config, []byte("escalation: {repeat_reinstatements: 1, repeat_approvals: 2}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := testnet.FreeAddr(t)
	srv := startRun(t, []string{"--config", config, "--listen", "127.0.0.1:0", "--http-listen", httpAddr, "--tokens", tokens,
		"--data-dir", filepath.Join(dir, "data")}, func(string) string { return "" })
	base := "http://" + httpAddr
	events := pb.NewEventServiceClient(dial(t, srv.addr))
	admin := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer alice-token")
	ingest := func(evs []*pb.Event) {
		t.Helper()
		if _, err := events.IngestEvents(admin, &pb.IngestEventsRequest{Events: evs}); err != nil {
			t.Fatal(err)
		}
	}
	ingest(sendsOf("other", "o", 50))
	ingest(sendsOf("acme", "warmup", 20))

	browser := browsertest.Start(t)
	alice := signIn(t, browser, base, "ops-alice", "alice-token")
	alice.screenshot("overview_before")
	alice.waitFor(`document.getElementById("live-state").textContent === "live"`)

	// 1,000 sends and 200 hard bounces: 20 %, past the suspend threshold.
	ingest(append(sendsOf("acme", "s", 1000), hardBouncesOf("acme", "hb", 200)...))
	// Without a reload: the mark left on the page stays.
	if _, err := chromedp.Run(alice.tab, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(`[...document.querySelectorAll("#live li")].some(li => li.textContent.includes("acme") && li.textContent.includes("suspended"))`)
	if _, err := chromedp.Run(alice.tab, chromedp.Evaluate[bool](`window.notReloaded === true || null`)); err != nil {
		t.Errorf("the overview was reloaded to show the transition: %v", err)
	}
	alice.waitFor(`document.getElementById("count-suspended").textContent === "1"`)
	alice.screenshot("overview_live")

	alice.open("/ui/accounts/acme")
	if got := alice.text("#banner-h"); got != "Sending is suspended" {
		t.Errorf("acme's banner: %q, want Sending is suspended", got)
	}
	maxRate, suspend := alice.chartValue("#hard-chart svg", "data-max-rate"), alice.chartValue("#hard-chart svg", "data-suspend")
	if suspend <= 0 || maxRate <= suspend {
		t.Errorf("hard-bounce chart: highest %g, suspend line %g; want the rate drawn above the line", maxRate, suspend)
	}
	alice.screenshot("account_suspended")

	// The sender reads its banner and opens a ticket from the page.
	sender := signIn(t, browser, base, "platform-a", "sender-a-token")
	sender.screenshot("sender_overview")
	sender.open("/ui/accounts/acme")
	if got := sender.text("#banner-h"); got != "Sending is suspended" {
		t.Errorf("the sender's banner: %q, want Sending is suspended", got)
	}
	if sender.has(`form[action$="/suspend"]`) || sender.has(`form[action$="/settings"]`) {
		t.Error("the sender's page shows admin forms")
	}
	sender.do(
		chromedp.Click(chromedp.CSS("#ticket summary")),
		chromedp.SetValue(chromedp.ID("t-description"), "We removed every address that bounced and turned on confirmed opt-in."),
		chromedp.Click(chromedp.CSS(`input[name="bounced_addresses_removed"]`)),
		chromedp.SetValue(chromedp.ID("t-optin"), "Confirmed opt-in"),
	)
	sender.submit(`form[action$="/ticket"] button[type="submit"]`)
	ticketPath := sender.path()
	if !strings.HasPrefix(ticketPath, "/ui/tickets/") {
		t.Fatalf("after opening a ticket the sender is at %s: %q", ticketPath, sender.text("main"))
	}
	if got := sender.text("h1"); !strings.Contains(got, "open") {
		t.Errorf("the new ticket's heading: %q, want it open", got)
	}
	sender.screenshot("ticket_sender")
	sender.open("/ui/accounts/other")
	if got := sender.text("h1"); !strings.HasPrefix(got, "403") {
		t.Errorf("the sender on another's account page: %q, want 403", got)
	}
	for _, p := range []string{"/ui/audit", "/ui/notifications"} {
		sender.open(p)
		if got := sender.text("h1"); !strings.HasPrefix(got, "403") {
			t.Errorf("the sender on %s: %q, want 403", p, got)
		}
	}

	// Another platform's sender may neither read nor act on acme.
	foreign := signIn(t, browser, base, "platform-b", "sender-b-token")
	// The API answers NOT_FOUND for another's ticket: it does not even
	// tell that the ticket exists.
	foreign.open(ticketPath)
	if got := foreign.text("h1"); !strings.HasPrefix(got, "404") {
		t.Errorf("a foreign sender on acme's ticket: %q, want 404", got)
	}
	if code := foreign.post(ticketPath+"/comment", map[string]string{"note": "let them back in"}, true); code != 404 {
		t.Errorf("a foreign sender's comment on acme's ticket: %d, want 404", code)
	}
	if code := foreign.post("/ui/accounts/acme/acknowledge", map[string]string{"note": "ok"}, true); code != 403 {
		t.Errorf("a foreign sender acknowledging for acme: %d, want 403", code)
	}

	// A viewer sees the ticket without the forms, and a posted form is
	// refused by the role check.
	viewer := signIn(t, browser, base, "auditor", "viewer-token")
	viewer.open(ticketPath)
	if viewer.has(`form[action$="/approve"]`) || viewer.has(`form[action$="/reject"]`) {
		t.Error("the viewer's ticket page shows approve or reject forms")
	}
	if code := viewer.post(ticketPath+"/approve", map[string]string{"note": "fine", "confirm": "yes"}, true); code != 403 {
		t.Errorf("the viewer's approval: %d, want 403", code)
	}
	if code := viewer.post("/ui/accounts/other/suspend", map[string]string{"category": "SUSPENSION_CATEGORY_FRAUD", "note": "x", "confirm": "yes"}, true); code != 403 {
		t.Errorf("the viewer's suspension: %d, want 403", code)
	}
	viewer.open("/ui/accounts/other")
	if got := viewer.text("#banner-h"); got != "Healthy" {
		t.Errorf("other after the viewer's attempt: %q, want Healthy", got)
	}

	// An admin's form without the session's token changes nothing.
	if code := alice.post(ticketPath+"/approve", map[string]string{"note": "fine", "confirm": "yes"}, false); code != 403 {
		t.Errorf("an approval without the CSRF token: %d, want 403", code)
	}
	alice.open(ticketPath)
	if got := alice.text("#approvals-h"); !strings.HasPrefix(got, "Approvals: 0 of") {
		t.Errorf("approvals after the refused posts: %q, want none", got)
	}
	alice.approve(ticketPath)
	if got := alice.text("h1"); !strings.Contains(got, "approved") {
		t.Errorf("the ticket after one approval of a first offence: %q, want approved", got)
	}
	alice.open("/ui/accounts/acme")
	if got := alice.text("#banner-h"); got != "On probation" {
		t.Errorf("acme after the approval: %q, want On probation", got)
	}
	alice.screenshot("account_probation")
	sender.open("/ui/accounts/acme")
	if got := sender.text("#banner-h"); got != "On probation" {
		t.Errorf("acme as its sender sees it after the approval: %q, want On probation", got)
	}

	// Suspended again on probation: a repeat offender's ticket needs two
	// admins, and the page says so.
	ingest(append(sendsOf("acme", "again-s", 500), hardBouncesOf("acme", "again", 200)...))
	sender.open("/ui/accounts/acme")
	if got := sender.text("#banner-h"); got != "Sending is suspended" {
		t.Fatalf("acme after more hard bounces on probation: %q, want suspended", got)
	}
	sender.do(chromedp.Click(chromedp.CSS("#ticket summary")), chromedp.SetValue(chromedp.ID("t-description"), "We found a second list that was never cleaned; it is deleted."))
	sender.submit(`form[action$="/ticket"] button[type="submit"]`)
	second := sender.path()
	alice.approve(second)
	if got := alice.text("#approvals-h"); got != "Approvals: 1 of 2" || !strings.Contains(alice.text("#approvals-h + p"), "2 different admins") {
		t.Errorf("a repeat offender's ticket after one approval: %q, %q; want 1 of 2 and the rule", got, alice.text("#approvals-h + p"))
	}
	if alice.has(`form[action$="/approve"]`) {
		t.Error("the admin who approved may approve again")
	}
	alice.screenshot("ticket_two_admins")
	bob := signIn(t, browser, base, "ops-bob", "bob-token")
	bob.approve(second)
	if got := bob.text("h1"); !strings.Contains(got, "approved") {
		t.Errorf("the ticket after the second admin's approval: %q, want approved", got)
	}
	alice.open("/ui/accounts/acme")
	if got := alice.text("#banner-h"); got != "On probation" {
		t.Errorf("acme after two approvals: %q, want On probation", got)
	}

	for _, p := range []struct{ path, name string }{{"/ui/accounts", "accounts"}, {"/ui/tickets?state=", "tickets"},
		{"/ui/notifications?state=", "notifications"}, {"/ui/audit", "audit"}} {
		alice.open(p.path)
		if got := alice.text("h1"); strings.HasPrefix(got, "4") || strings.HasPrefix(got, "5") {
			t.Errorf("%s: %q", p.path, got)
		}
		alice.screenshot(p.name)
	}
	if got := alice.text("main table tbody"); !strings.Contains(got, "ApproveTicket") || !strings.Contains(got, "CreateTicket") {
		t.Errorf("the audit log shows %q, want the approval and the ticket", got)
	}

	phone := signIn(t, browser, base, "platform-a", "sender-a-token")
	browsertest.Phone(t, phone.tab)
	phone.open("/ui/accounts/acme")
	phone.screenshot("account_phone")
	if wide, err := chromedp.Run(phone.tab, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)); err != nil || wide {
		t.Errorf("the account page on a phone scrolls sideways (%v)", err)
	}

	// The refusals above show in the browser's log as failed loads; any
	// other error (a script's, a policy violation) is a defect.
	for _, u := range []*browserUser{alice, bob, sender, foreign, viewer, phone} {
		for _, e := range u.errs.Errors() {
			if !strings.Contains(e, "the server responded with a status of 403") && !strings.Contains(e, "the server responded with a status of 404") {
				t.Errorf("%s's browser reported %q", u.name, e)
			}
		}
	}
}

func (u *browserUser) chartValue(sel, attr string) float64 {
	u.t.Helper()
	v, err := chromedp.Run(u.tab, chromedp.AttributeValue(chromedp.CSS(sel), attr))
	if err != nil || !v.Exists {
		u.t.Fatalf("%s: %s of %s: %v", u.name, attr, sel, err)
	}
	f, err := strconv.ParseFloat(v.Value, 64)
	if err != nil {
		u.t.Fatalf("%s: %s of %s = %q", u.name, attr, sel, v.Value)
	}
	return f
}

// approve approves the ticket through its form.
func (u *browserUser) approve(ticketPath string) {
	u.t.Helper()
	u.open(ticketPath)
	u.do(
		chromedp.SetValue(chromedp.ID("approve-note"), "Checked their list hygiene."),
		chromedp.Click(chromedp.CSS(`form[action$="/approve"] input[name="confirm"]`)),
	)
	u.submit(`form[action$="/approve"] button[type="submit"]`)
	if u.path() != ticketPath || !strings.Contains(u.text("#approvals-h"), "Approvals:") {
		u.t.Fatalf("%s: after approving: %q", u.name, u.text("main"))
	}
}

// Over TLS a browser signs in with its client certificate, and the
// session's cookie is Secure.
func TestConsoleSignsInWithAClientCertificate(t *testing.T) {
	p := testpki.New(t, "ops-robot")
	dir, httpAddr := t.TempDir(), testnet.FreeAddr(t)
	tokens := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(tokens, []byte("tokens:\n  - {name: ops-robot, client_cn: ops-robot, role: admin}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	startRun(t, []string{"--listen", "127.0.0.1:0", "--http-listen", httpAddr, "--tokens", tokens, "--tls-cert", p.CertFile, "--tls-key", p.KeyFile,
		"--tls-client-ca", p.CAFile, "--data-dir", filepath.Join(dir, "data")}, func(string) string { return "" })
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{p.Client}}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + httpAddr
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if _, page := get("/ui/login"); !strings.Contains(page, "client certificate, <strong>ops-robot</strong>") {
		t.Errorf("the sign-in page does not offer the certificate:\n%s", page)
	}
	resp, err := client.PostForm(base+"/ui/login", url.Values{"token": {""}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure {
		t.Fatalf("sign in with the certificate: %d, cookies %v; want 303 and a Secure session cookie", resp.StatusCode, resp.Cookies())
	}
	if resp, page := get("/ui/"); resp.StatusCode != http.StatusOK || !strings.Contains(page, "ops-robot") {
		t.Errorf("the overview after signing in with the certificate: %d", resp.StatusCode)
	}
}

// Without tokens the console is served on loopback only, like the API;
// the webhooks, which check their own signatures, are served anyway.
func TestAnOpenConsoleStaysOnLoopback(t *testing.T) {
	port := testnet.FreeAddr(t)[len("127.0.0.1:"):]
	srv := startRun(t, []string{"--listen", "127.0.0.1:0", "--http-listen", "0.0.0.0:" + port, "--data-dir", t.TempDir()},
		func(string) string { return "" })
	resp, err := http.Get("http://127.0.0.1:" + port + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(srv.Log(), "the console is not served") {
		t.Errorf("an open console beyond loopback: %d; want 404 and a warning in the log", resp.StatusCode)
	}
}

// A browser's live stream ends when the server shuts down: the listener's
// graceful shutdown does not wait for it until its timeout.
func TestShutdownEndsTheLiveStream(t *testing.T) {
	dir, httpAddr := t.TempDir(), testnet.FreeAddr(t)
	config := filepath.Join(dir, "dpmon.yaml")
	if err := os.WriteFile(config, []byte("shutdown_timeout: 60s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startRun(t, []string{"--config", config, "--listen", "127.0.0.1:0", "--http-listen", httpAddr, "--data-dir", filepath.Join(dir, "data")},
		func(string) string { return "" })
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	resp, err := client.PostForm("http://"+httpAddr+"/ui/login", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stream, err := client.Get("http://" + httpAddr + "/ui/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	first, err := bufio.NewReader(stream.Body).ReadString('\n')
	if err != nil || stream.Header.Get("Content-Type") != "text/event-stream" || first != "retry: 3000\n" {
		t.Fatalf("the live stream: %q, %q, %v", stream.Header.Get("Content-Type"), first, err)
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(stream.Body); err != nil {
		t.Errorf("the stream did not end cleanly: %v", err)
	}
	if strings.Contains(srv.Log(), "http server shutdown") {
		t.Errorf("the shutdown waited for the stream until its timeout:\n%s", srv.Log())
	}
}
