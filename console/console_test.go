package console

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/server"
	"github.com/dpmon/dpmon/store"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// env is a console over a real server and store, served over HTTP.
type env struct {
	srv   *server.Server
	auth  *server.Authenticator
	http  *httptest.Server
	clock *monitortest.Clock
	db    *store.DB
	admin server.Identity
	// batches numbers the ingested batches, so that event ids differ.
	batches int
}

func digest(token string) string {
	d := sha256.Sum256([]byte(token))
	return hex.EncodeToString(d[:])
}

// newEnv serves the console with tokens (their names are the tokens) of an
// admin, a viewer and a sender scoped to acme; withAuth false serves it
// without tokens.
func newEnv(t *testing.T, withAuth bool) *env {
	t.Helper()
	return newEnvStore(t, withAuth, func(*store.Options) {})
}

// newEnvStore is newEnv with the store's options changed by opts.
func newEnvStore(t *testing.T, withAuth bool, opts func(*store.Options)) *env {
	t.Helper()
	e := &env{clock: monitortest.New(t0)}
	so := store.Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(),
		Suppression: monitor.DefaultSuppressionPolicy(), Clock: e.clock.Now}
	opts(&so)
	db, err := store.Open(t.TempDir(), so)
	if err != nil {
		t.Fatal(err)
	}
	if withAuth {
		if e.auth, err = server.NewAuthenticator([]server.Credential{
			{Name: "ops", SHA256: digest("ops"), Role: server.RoleAdmin, CreateAccounts: true},
			{Name: "auditor", SHA256: digest("auditor"), Role: server.RoleViewer},
			{Name: "platform-a", SHA256: digest("platform-a"), Role: server.RoleSender, Accounts: []string{"acme"}},
		}); err != nil {
			t.Fatal(err)
		}
		e.admin, _ = e.auth.AuthenticateToken("ops")
	} else {
		e.admin = server.OpenIdentity("127.0.0.1")
	}
	e.db = db
	e.srv = server.New(db, server.Options{Clock: e.clock.Now, Auth: e.auth})
	c, err := New(Options{API: e.srv, Auth: e.auth, Phases: db.PhaseCounts, EventsDurable: db.EventsDurable, Clock: e.clock.Now, SessionTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(c)
	t.Cleanup(func() {
		c.Close()
		e.http.Close()
		e.srv.Drain()
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

// ingest commits sends and hard bounces of account as the admin.
func (e *env) ingest(t *testing.T, account string, sends, hard int) {
	t.Helper()
	ctx, err := e.srv.As(context.Background(), e.admin, pb.EventService_IngestEvents_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	var evs []*pb.Event
	e.batches++
	for i := range sends + hard {
		ev := &pb.Event{EventId: fmt.Sprint(account, "-", e.batches, "-", i), AccountId: account, Type: pb.EventType_EVENT_TYPE_SEND,
			OccurredAt: timestamppb.New(e.clock.Now()), Recipient: fmt.Sprintf("r%d@example.com", i), Sender: "news@acme.example"}
		if i >= sends {
			ev.Type, ev.Bounce = pb.EventType_EVENT_TYPE_BOUNCE, &pb.Bounce{SmtpCode: 550, EnhancedStatus: "5.1.1"}
		}
		evs = append(evs, ev)
	}
	if _, err := e.srv.IngestEvents(ctx, &pb.IngestEventsRequest{Events: evs}); err != nil {
		t.Fatal(err)
	}
}

// client is a browser without a script: a cookie jar, no redirects
// followed.
type client struct {
	t    *testing.T
	e    *env
	http *http.Client
}

func (e *env) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path string, form url.Values, header http.Header) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.http.URL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) {
	return c.do(http.MethodGet, path, nil, nil)
}

func (c *client) post(path string, form url.Values) (*http.Response, string) {
	return c.do(http.MethodPost, path, form, nil)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in with token and returns the session's CSRF token.
func (c *client) signIn(token string) string {
	c.t.Helper()
	resp, body := c.post("/ui/login", url.Values{"token": {token}, "next": {"/ui/"}})
	if resp.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("sign in as %s: %d %s", token, resp.StatusCode, body)
	}
	_, page := c.get("/ui/")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		c.t.Fatalf("no CSRF token on the overview:\n%s", page)
	}
	return m[1]
}

func TestSignInSetsAStrictSessionCookie(t *testing.T) {
	e := newEnv(t, true)
	c := e.client(t)
	if resp, _ := c.get("/ui/accounts?phase=warning"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login?next=%2Fui%2Faccounts%3Fphase%3Dwarning" {
		t.Errorf("a page before signing in: %d to %q, want 303 to the sign-in with the page to come back to", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := c.post("/ui/login", url.Values{"token": {"not-a-token"}})
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 || !strings.Contains(body, "not known") {
		t.Errorf("an unknown token: %d, cookies %v; want 401 and no session", resp.StatusCode, resp.Cookies())
	}
	resp, _ = c.post("/ui/login", url.Values{"token": {"ops"}, "next": {"/ui/accounts?phase=warning"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/accounts?phase=warning" {
		t.Fatalf("sign in: %d to %q, want 303 to the page asked for", resp.StatusCode, resp.Header.Get("Location"))
	}
	ck := resp.Cookies()[0]
	if ck.Name != sessionCookie || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/ui/" || ck.MaxAge != 3600 || len(ck.Value) < 40 {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, path /ui/, an hour, a long random value", ck)
	}
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/ui/\\evil", "/\\evil.example", "/ui/login"} {
		resp, _ := e.client(t).post("/ui/login", url.Values{"token": {"ops"}, "next": {next}})
		if got := resp.Header.Get("Location"); got != "/ui/" {
			t.Errorf("sign in with next=%q went to %q, want /ui/", next, got)
		}
	}
	if resp, body := c.get("/ui/"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "ops") {
		t.Errorf("the overview when signed in: %d", resp.StatusCode)
	}
	// The session ends with its time, and at sign-out.
	e.clock.Set(t0.Add(2 * time.Hour))
	if resp, _ := c.get("/ui/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the overview after the session expired: %d, want 303 to sign in", resp.StatusCode)
	}
	csrf := c.signIn("ops")
	if resp, _ := c.post("/ui/logout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign out: %d", resp.StatusCode)
	}
	if resp, _ := c.get("/ui/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the overview after signing out: %d, want 303 to sign in", resp.StatusCode)
	}
}

// A form changes something only with the session's token, from the
// console's own origin, with its box ticked, and for a role that may.
func TestFormsAreCheckedBeforeTheyAct(t *testing.T) {
	e := newEnv(t, true)
	e.ingest(t, "acme", 100, 0)
	admin := e.client(t)
	csrf := admin.signIn("ops")
	suspend := url.Values{"category": {"SUSPENSION_CATEGORY_FRAUD"}, "note": {"stolen list"}, "confirm": {"yes"}}
	phase := func() string {
		t.Helper()
		_, body := admin.get("/ui/accounts/acme")
		m := regexp.MustCompile(`<h2 id="banner-h">([^<]+)</h2>`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no banner:\n%s", body)
		}
		return m[1]
	}
	with := func(v url.Values, k, val string) url.Values {
		out := url.Values{}
		for key, vs := range v {
			out[key] = vs
		}
		if val == "" {
			out.Del(k)
		} else {
			out.Set(k, val)
		}
		return out
	}
	if resp, _ := admin.post("/ui/accounts/acme/suspend", suspend); resp.StatusCode != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := admin.post("/ui/accounts/acme/suspend", with(suspend, "csrf", "forged")); resp.StatusCode != http.StatusForbidden {
		t.Errorf("with another token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := admin.do(http.MethodPost, "/ui/accounts/acme/suspend", with(suspend, "csrf", csrf), http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("from another site: %d, want 403", resp.StatusCode)
	}
	if resp, _ := admin.post("/ui/accounts/acme/suspend", with(with(suspend, "csrf", csrf), "confirm", "")); resp.StatusCode != http.StatusConflict {
		t.Errorf("without the box ticked: %d, want 409", resp.StatusCode)
	}
	if resp, body := admin.post("/ui/accounts/acme/suspend", with(with(suspend, "csrf", csrf), "note", "")); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "<code>note</code>") {
		t.Errorf("without a note: %d, want 400 naming the field:\n%s", resp.StatusCode, body)
	}
	viewer := e.client(t)
	if resp, _ := viewer.post("/ui/accounts/acme/suspend", with(suspend, "csrf", viewer.signIn("auditor"))); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's suspension: %d, want 403", resp.StatusCode)
	}
	if got := phase(); got != "Healthy" {
		t.Fatalf("after the refused forms acme is %q, want Healthy", got)
	}
	if resp, _ := admin.post("/ui/accounts/acme/suspend", with(suspend, "csrf", csrf)); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/accounts/acme" {
		t.Errorf("the admin's suspension: %d to %q, want 303 back to the account", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := phase(); got != "Sending is suspended" {
		t.Errorf("after the admin's suspension acme is %q", got)
	}
	_, audit := admin.get("/ui/audit?account=acme")
	if !strings.Contains(audit, "SuspendAccount") || !strings.Contains(audit, "stolen list") {
		t.Errorf("the audit log does not show the console's suspension:\n%s", audit)
	}
}

// Strings from outside are shown as text: markup in a display name or a
// ticket stays inert, wherever the page puts it.
func TestHostileStringsAreShownAsText(t *testing.T) {
	e := newEnv(t, true)
	e.ingest(t, "acme", 1000, 200)
	admin := e.client(t)
	csrf := admin.signIn("ops")
	name := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	if resp, body := admin.post("/ui/accounts/acme/settings", url.Values{"csrf": {csrf}, "display_name": {name}, "max_sends_per_day": {"1,000"}, "confirm": {"yes"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("settings: %d\n%s", resp.StatusCode, body)
	}
	sender := e.client(t)
	scsrf := sender.signIn("platform-a")
	if resp, body := sender.post("/ui/accounts/acme/ticket", url.Values{"csrf": {scsrf}, "description": {`"><svg onload=alert(3)> javascript:alert(4)`}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a ticket with markup: %d\n%s", resp.StatusCode, body)
	}
	for _, path := range []string{"/ui/accounts/acme", "/ui/accounts", "/ui/tickets"} {
		_, body := admin.get(path)
		for _, raw := range []string{"<script>alert", "<img src=x", "<svg onload"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s carries %q as markup", path, raw)
			}
		}
	}
	_, body := admin.get("/ui/accounts/acme")
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(body, `value="1000"`) {
		t.Errorf("the account page does not show the name as text, or the quota set:\n%s", body)
	}
	// The sender sees only its own accounts, never the platform's figures.
	_, overview := sender.get("/ui/")
	if strings.Contains(overview, "count-healthy") || strings.Contains(overview, "events/s") {
		t.Error("a sender's overview shows the platform's figures")
	}
}

func TestAConsoleWithoutTokensSignsInTheOpenIdentity(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	csrf := c.signIn("")
	e.ingest(t, "acme", 10, 0)
	if resp, body := c.post("/ui/accounts/acme/settings", url.Values{"csrf": {csrf}, "display_name": {"Acme"}, "confirm": {"yes"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the open identity's settings: %d\n%s", resp.StatusCode, body)
	}
	if _, body := c.get("/ui/audit"); !strings.Contains(body, "unauthenticated caller at 127.0.0.1") {
		t.Errorf("the audit log does not name the open identity:\n%s", body)
	}
}

func TestAccountListIsPagedAndSearched(t *testing.T) {
	e := newEnv(t, true)
	for i := range pageSize + 5 {
		e.ingest(t, fmt.Sprintf("acct-%03d", i), 1, 0)
	}
	c := e.client(t)
	c.signIn("ops")
	rows := regexp.MustCompile(`<tr>\s*<td><a href="/ui/accounts/([^"]+)">`)
	_, first := c.get("/ui/accounts")
	if got := len(rows.FindAllString(first, -1)); got != pageSize {
		t.Errorf("the first page lists %d accounts, want %d", got, pageSize)
	}
	next := regexp.MustCompile(`href="\?([^"]+)" rel="next"`).FindStringSubmatch(first)
	if next == nil {
		t.Fatal("no link to the next page")
	}
	t.Logf("next: %s", next[1])
	_, second := c.get("/ui/accounts?" + strings.ReplaceAll(next[1], "&amp;", "&"))
	if got := rows.FindAllStringSubmatch(second, -1); len(got) != 5 || got[0][1] != fmt.Sprintf("acct-%03d", pageSize) {
		t.Errorf("the second page lists %v, want the last 5", got)
	}
	_, found := c.get("/ui/accounts?q=acct-01")
	if got := len(rows.FindAllString(found, -1)); got != 10 {
		t.Errorf("accounts starting with acct-01: %d, want 10", got)
	}
}

func TestFormats(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{{0, "0 %"}, {0.02, "2.00 %"}, {0.001, "0.10 %"}, {0.00005, "0.005 %"}, {0.1961, "19.61 %"}} {
		if got := percent(tt.f); got != tt.want {
			t.Errorf("percent(%g) = %q, want %q", tt.f, got, tt.want)
		}
	}
	for _, tt := range []struct {
		v    any
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {uint64(1234567), "1,234,567"}, {int64(-1234), "-1,234"}, {uint32(10000), "10,000"}} {
		if got := number(tt.v); got != tt.want {
			t.Errorf("number(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	if got := enumLabel(pb.SuppressionReason_SUPPRESSION_REASON_REPEATED_SOFT_BOUNCES); got != "repeated soft bounces" {
		t.Errorf("enumLabel = %q", got)
	}
	if got := enumLabel(pb.TicketState_TICKET_STATE_UNSPECIFIED); got != "" {
		t.Errorf("enumLabel(unspecified) = %q, want empty", got)
	}
}

func TestRateMeter(t *testing.T) {
	now, n := t0, uint64(0)
	m := newRateMeter(func() uint64 { return n }, func() time.Time { return now })
	if _, ok := m.PerSecond(); ok {
		t.Error("a rate from one sample")
	}
	now, n = now.Add(10*time.Second), 5000
	if r, ok := m.PerSecond(); !ok || r != 500 {
		t.Errorf("rate after 10 s and 5,000 events = %g, %v; want 500", r, ok)
	}
	// Long after, the rate is over the span, from the sample kept before it.
	for range 100 {
		now, n = now.Add(2*time.Second), n+2000
		m.PerSecond()
	}
	if r, _ := m.PerSecond(); r != 1000 || len(m.samples) > rateSamples {
		t.Errorf("rate at 1,000 events/s = %g with %d samples", r, len(m.samples))
	}
	// After nobody looked for a while, no average over the gap is shown.
	now, n = now.Add(10*time.Minute), n+1_000_000
	if r, ok := m.PerSecond(); ok {
		t.Errorf("rate after a 10-minute gap = %g, want none until the next sample", r)
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct{ v, want float64 }{{0.0987, 0.1}, {0.1, 0.1}, {0.11, 0.15}, {0.0021, 0.0025}, {0.0041, 0.005}, {0.256, 0.3}} {
		if got := niceCeil(tt.v); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("niceCeil(%g) = %g, want %g", tt.v, got, tt.want)
		}
	}
}

// A warned account's sender answers the warning from its page; the banner
// then shows the answer instead of the deadline.
func TestASenderAcknowledgesAWarning(t *testing.T) {
	e := newEnv(t, true)
	e.ingest(t, "acme", 1000, 25)
	sender := e.client(t)
	csrf := sender.signIn("platform-a")
	_, page := sender.get("/ui/accounts/acme")
	if !strings.Contains(page, "Warning: sending is at risk") || !strings.Contains(page, "Acknowledge by") || !strings.Contains(page, `action="/ui/accounts/acme/acknowledge"`) {
		t.Fatalf("a warned account's page has no banner with a deadline and a form:\n%s", page)
	}
	if resp, body := sender.post("/ui/accounts/acme/acknowledge", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "<code>note</code>") {
		t.Errorf("an acknowledgement without a note: %d, want 400 naming the note", resp.StatusCode)
	}
	if resp, _ := sender.post("/ui/accounts/acme/acknowledge", url.Values{"csrf": {csrf}, "note": {"Paused the imported list."}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the acknowledgement: %d", resp.StatusCode)
	}
	_, page = sender.get("/ui/accounts/acme")
	if !strings.Contains(page, "Paused the imported list.") || strings.Contains(page, `action="/ui/accounts/acme/acknowledge"`) {
		t.Errorf("after the acknowledgement the page does not show it, or still asks for it")
	}
}

// A peer that gets the token wrong again and again must wait, even with
// the right one; another peer need not.
func TestSignInsArePausedAfterRepeatedFailures(t *testing.T) {
	e := newEnv(t, true)
	c := e.client(t)
	for range maxSignInFailures {
		if resp, _ := c.post("/ui/login", url.Values{"token": {"guess"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a wrong token: %d, want 401", resp.StatusCode)
		}
	}
	resp, _ := c.post("/ui/login", url.Values{"token": {"ops"}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || len(resp.Cookies()) != 0 {
		t.Errorf("the right token after %d failures: %d, Retry-After %q; want 429 and no session", maxSignInFailures, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	e.clock.Set(t0.Add(signInPause + time.Second))
	if resp, _ := c.post("/ui/login", url.Values{"token": {"ops"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the right token after the pause: %d, want 303", resp.StatusCode)
	}
}

func TestSignInLimiterStaysBounded(t *testing.T) {
	now := t0
	l := newSignInLimiter(func() time.Time { return now })
	for i := range maxPeersTracked + 100 {
		l.failed(fmt.Sprint("192.0.2.", i))
	}
	if len(l.peers) > maxPeersTracked {
		t.Errorf("%d peers tracked, want at most %d", len(l.peers), maxPeersTracked)
	}
}

// A console without tokens answers only for loopback names: a page on a
// name an attacker points at 127.0.0.1 is same-origin for the browser.
func TestAnOpenConsoleAnswersOnlyLoopbackNames(t *testing.T) {
	e := newEnv(t, false)
	c := e.client(t)
	for host, want := range map[string]int{"attacker.example": http.StatusMisdirectedRequest, "attacker.example:80": http.StatusMisdirectedRequest,
		"localhost": http.StatusOK, "127.0.0.1:7412": http.StatusOK, "[::1]:7412": http.StatusOK} {
		req, _ := http.NewRequest(http.MethodGet, e.http.URL+"/ui/login", nil)
		req.Host = host
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// The settings form changes only the fields changed in it: an override it
// does not show, or one set elsewhere since the page was drawn, is kept,
// and a threshold is read back exactly as it was written.
func TestSettingsChangeOnlyWhatTheFormChanged(t *testing.T) {
	e := newEnv(t, true)
	e.ingest(t, "acme", 10, 0)
	ctx, err := e.srv.As(context.Background(), e.admin, pb.AccountService_UpdateAccount_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "acme", AdminEmails: []string{"ops@acme.example"},
		PolicyOverrides: &pb.PolicyOverrides{ComplaintWarn: proto.Float64(0.0007), BlockWarn: proto.Float64(0.05)}}); err != nil {
		t.Fatal(err)
	}
	c := e.client(t)
	csrf := c.signIn("ops")
	_, page := c.get("/ui/accounts/acme")
	if !strings.Contains(page, `name="complaint_warn" value="0.07"`) {
		t.Fatalf("the form does not show the complaint override as 0.07:\n%s", page)
	}
	// As the page was drawn, with a display name and a hard-bounce
	// threshold typed in; the admin emails changed elsewhere meanwhile.
	form := url.Values{"csrf": {csrf}, "confirm": {"yes"}}
	for _, f := range regexp.MustCompile(`name="(orig_[a-z_]+)" value="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		form.Set(f[1], f[2])
		form.Set(strings.TrimPrefix(f[1], "orig_"), f[2])
	}
	form.Set("display_name", "Acme Mail")
	form.Set("hard_bounce_warn", "3")
	if _, err := e.srv.UpdateAccount(ctx, &pb.UpdateAccountRequest{AccountId: "acme", AdminEmails: []string{"new@acme.example"}}); err != nil {
		t.Fatal(err)
	}
	if resp, body := c.post("/ui/accounts/acme/settings", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving the settings: %d\n%s", resp.StatusCode, body)
	}
	gctx, _ := e.srv.As(context.Background(), e.admin, pb.AccountService_GetAccount_FullMethodName)
	got, err := e.srv.GetAccount(gctx, &pb.GetAccountRequest{AccountId: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	a, o := got.GetAccount(), got.GetAccount().GetPolicyOverrides()
	if a.GetDisplayName() != "Acme Mail" || o.GetHardBounceWarn() != 0.03 || o.GetComplaintWarn() != 0.0007 || o.GetBlockWarn() != 0.05 ||
		len(a.GetAdminEmails()) != 1 || a.GetAdminEmails()[0] != "new@acme.example" {
		t.Errorf("after the form: name %q, hard warn %v, complaint warn %v, block warn %v, emails %v; want Acme Mail, 0.03, 0.0007, 0.05 kept, new@ kept",
			a.GetDisplayName(), o.GetHardBounceWarn(), o.GetComplaintWarn(), o.GetBlockWarn(), a.GetAdminEmails())
	}
}

// A sender sees its own accounts only: in the list, on their pages and in
// the live stream, where another account's suspension never arrives.
func TestASenderSeesOnlyItsAccounts(t *testing.T) {
	e := newEnv(t, true)
	e.ingest(t, "acme", 1000, 0)
	e.ingest(t, "beta", 1000, 0)
	sender := e.client(t)
	sender.signIn("platform-a")
	if _, page := sender.get("/ui/accounts"); !strings.Contains(page, `href="/ui/accounts/acme"`) || strings.Contains(page, "beta") {
		t.Errorf("the sender's account list shows another account, or not its own:\n%s", page)
	}
	if resp, _ := sender.get("/ui/accounts/beta"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the sender on beta's page: %d, want 403", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/ui/events", nil)
	stream, err := sender.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	lines := bufio.NewScanner(stream.Body)
	// The stream answers once the watch is in place, with its cursor.
	if !lines.Scan() || lines.Text() != "retry: 3000" || !lines.Scan() || !strings.HasPrefix(lines.Text(), "id: ") {
		t.Fatalf("the stream's start: %q, %v", lines.Text(), lines.Err())
	}
	e.ingest(t, "beta", 0, 200)
	e.ingest(t, "acme", 0, 200)
	for lines.Scan() {
		if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
			if !strings.Contains(data, `"account":"acme"`) {
				t.Fatalf("the sender's stream carried %s before acme's transition", data)
			}
			return
		}
	}
	t.Fatalf("the stream ended before acme's transition: %v", lines.Err())
}

// A sender blocked by the bulk policy shows on the account page, and an
// admin unblocks it there; its own sender sees no such form.
func TestAnAdminUnblocksASender(t *testing.T) {
	e := newEnvStore(t, true, func(o *store.Options) {
		o.Policy.Bulk = monitor.DefaultBulkPolicy()
		o.Policy.Bulk.Enabled, o.Policy.Bulk.BaseLimit, o.Policy.Bulk.MinLimit = true, 5, 2
	})
	e.ingest(t, "acme", 20, 0) // 20 distinct recipients from one sender address
	owner := e.client(t)
	owner.signIn("platform-a")
	if _, page := owner.get("/ui/accounts/acme"); !strings.Contains(page, "news@acme.example") || !strings.Contains(page, ">blocked<") ||
		strings.Contains(page, "/unblock") {
		t.Fatalf("the owner's page: want the blocked sender, without an unblock form:\n%s", page)
	}
	admin := e.client(t)
	csrf := admin.signIn("ops")
	form := url.Values{"csrf": {csrf}, "sender": {"news@acme.example"}, "note": {"Double opt-in list, checked."}}
	if resp, _ := admin.post("/ui/accounts/acme/unblock", form); resp.StatusCode != http.StatusConflict {
		t.Errorf("unblocking without the box ticked: %d, want 409", resp.StatusCode)
	}
	form.Set("confirm", "yes")
	if resp, body := admin.post("/ui/accounts/acme/unblock", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("unblocking: %d\n%s", resp.StatusCode, body)
	}
	if _, page := admin.get("/ui/accounts/acme"); strings.Contains(page, ">blocked<") {
		t.Errorf("the sender is still blocked after the unblock")
	}
}

// A failed alert shows with its last error; an admin sends it again, a
// viewer only reads.
func TestAnAdminRetriesAFailedNotification(t *testing.T) {
	e := newEnvStore(t, true, func(o *store.Options) {
		o.Route = func(n monitor.Notification) []monitor.Notification {
			n.Receiver, n.State, n.NextAttempt, n.Deadline = "ops-webhook", monitor.NotificationPending, n.CreatedAt, n.CreatedAt.Add(time.Hour)
			return []monitor.Notification{n}
		}
	})
	e.ingest(t, "acme", 1000, 200)
	ctx := context.Background()
	due, err := e.db.DueNotifications(ctx, t0.Add(time.Minute), 10)
	if err != nil || len(due) == 0 {
		t.Fatalf("due notifications: %v, %v", due, err)
	}
	if _, err := e.db.UpdateNotification(ctx, due[0].ID, func(n *monitor.Notification) error {
		n.Attempted(t0, errors.New("the hook answered 410 Gone"), false, monitor.DefaultRetryPolicy(), 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	viewer := e.client(t)
	vcsrf := viewer.signIn("auditor")
	_, page := viewer.get("/ui/notifications")
	if !strings.Contains(page, "the hook answered 410 Gone") || strings.Contains(page, "/retry") {
		t.Errorf("the viewer's failed notifications: want the error and no retry form:\n%s", page)
	}
	retry := "/ui/notifications/" + url.PathEscape(due[0].ID) + "/retry"
	if resp, _ := viewer.post(retry, url.Values{"csrf": {vcsrf}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the viewer's retry: %d, want 403", resp.StatusCode)
	}
	admin := e.client(t)
	csrf := admin.signIn("ops")
	if resp, body := admin.post(retry, url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the admin's retry: %d\n%s", resp.StatusCode, body)
	}
	if _, page := admin.get("/ui/notifications?state=failed"); strings.Contains(page, "410 Gone") {
		t.Error("the notification is still failed after the retry")
	}
}

// An admin rejects a ticket with a reason the account reads.
func TestAnAdminRejectsATicket(t *testing.T) {
	e := newEnv(t, true)
	e.ingest(t, "acme", 1000, 200)
	sender := e.client(t)
	if resp, _ := sender.post("/ui/accounts/acme/ticket", url.Values{"csrf": {sender.signIn("platform-a")}, "description": {"All fixed."}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("opening a ticket: %d", resp.StatusCode)
	}
	admin := e.client(t)
	csrf := admin.signIn("ops")
	_, queue := admin.get("/ui/tickets")
	m := regexp.MustCompile(`href="/ui/tickets/(tkt-[a-z0-9]+)"`).FindStringSubmatch(queue)
	if m == nil {
		t.Fatalf("no open ticket in the queue:\n%s", queue)
	}
	if resp, body := admin.post("/ui/tickets/"+m[1]+"/reject", url.Values{"csrf": {csrf}, "note": {"Say where the list comes from."}, "confirm": {"yes"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rejecting: %d\n%s", resp.StatusCode, body)
	}
	if _, page := sender.get("/ui/tickets/" + m[1]); !strings.Contains(page, "ticket-rejected") || !strings.Contains(page, "Say where the list comes from.") {
		t.Errorf("the sender's ticket after the rejection: want it rejected with the reason:\n%s", page)
	}
}
