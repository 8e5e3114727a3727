package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dpmon/dpmon/internal/testnet"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/monitor/monitortest"
	"github.com/dpmon/dpmon/store"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// flakyHook is a real HTTP receiver that fails on purpose, can go down and
// come back on the same address, and checks every signature it gets.
type flakyHook struct {
	t      *testing.T
	secret []byte
	addr   string
	mu     sync.Mutex
	fail   int // answer 503 to this many more requests
	drop   int // take this many more, then hang up without answering
	bodies map[string][]string
	got    map[string]int // deliveries per id
	srv    *http.Server
}

func newFlakyHook(t *testing.T, secret string) *flakyHook {
	h := &flakyHook{t: t, secret: []byte(secret), got: map[string]int{}, bodies: map[string][]string{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = lis.Addr().String()
	h.serve(lis)
	t.Cleanup(func() { h.srv.Close() })
	return h
}

func (h *flakyHook) serve(lis net.Listener) {
	h.srv = &http.Server{Handler: h}
	go func() { _ = h.srv.Serve(lis) }()
}

// down closes the listener: connections are refused until up.
func (h *flakyHook) down() { h.srv.Close() }

func (h *flakyHook) up() {
	lis, err := net.Listen("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.serve(lis)
}

func (h *flakyHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(body)
	if r.Header.Get("X-Dpmon-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		h.t.Errorf("bad signature %q", r.Header.Get("X-Dpmon-Signature"))
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Version != PayloadVersion || p.ID != r.Header.Get("X-Dpmon-Delivery") {
		h.t.Errorf("body %s (%v) does not carry the delivery id %q", body, err, r.Header.Get("X-Dpmon-Delivery"))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail > 0 {
		h.fail--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	h.got[p.ID]++
	h.bodies[p.ID] = append(h.bodies[p.ID], string(body))
	if h.drop > 0 {
		// The receiver has the notification but dpmon never hears so:
		// it will send it again, and the receiver must see it is the same.
		h.drop--
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

func warn(t *testing.T, db *store.DB, accounts ...string) {
	t.Helper()
	for _, a := range accounts {
		var evs []monitor.Event
		for i := range 1000 {
			evs = append(evs, monitor.Event{ID: fmt.Sprint("s", i), AccountID: a, Type: monitor.EventSend, OccurredAt: t0, Recipient: "r@example.com"})
		}
		for i := range 25 {
			evs = append(evs, monitor.Event{ID: fmt.Sprint("b", i), AccountID: a, Type: monitor.EventBounce, OccurredAt: t0,
				Recipient: "r@example.com", Bounce: &monitor.Bounce{SMTPCode: 550, EnhancedStatus: "5.1.1"}})
		}
		if _, err := db.Ingest(context.Background(), evs); err != nil {
			t.Fatal(err)
		}
	}
}

// A receiver that fails, then is down for a while, then recovers gets
// every notification, each with an id it can deduplicate on.
func TestWebhookDeliveryThroughFailures(t *testing.T) {
	hook := newFlakyHook(t, "s3cret")
	retry := monitor.RetryPolicy{First: 10 * time.Second, Max: time.Minute, GiveUpAfter: time.Hour}
	n, err := New([]Route{{Name: "ops", Receiver: Webhook{URL: "http://" + hook.addr + "/dpmon", Secret: []byte("s3cret")}}},
		retry, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n.jitter = func() float64 { return 0.5 }
	db := openStore(t, n.Route)
	warn(t, db, "acme", "beta", "gamma")

	ctx := context.Background()
	hook.mu.Lock()
	hook.fail = 3 // the first attempt of each gets 503
	hook.mu.Unlock()
	now := t0
	for step := 0; step < 20; step++ {
		switch step {
		case 1:
			hook.down()
		case 4:
			hook.up()
		}
		if _, err := n.DeliverDue(ctx, db, now); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute) // every retry is due within a minute
	}
	all, _, err := db.Notifications(ctx, store.NotificationFilter{}, 10, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("notifications: %d, %v; want 3", len(all), err)
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	for _, note := range all {
		if note.State != monitor.NotificationDelivered || hook.got[note.ID] < 1 {
			t.Errorf("%s: %s after %d attempts (last error %q), received %d times", note.ID, note.State, note.Attempts, note.LastError, hook.got[note.ID])
		}
		if note.Attempts < 2 {
			t.Errorf("%s: delivered at attempt %d, want the failures retried", note.ID, note.Attempts)
		}
	}
	if len(hook.got) != 3 {
		t.Errorf("receiver got %d distinct ids, want 3", len(hook.got))
	}
}

// A delivery whose answer is lost is sent again, identical: same id, same
// body, same signature, so the receiver can drop the second one.
func TestALostAnswerIsSentAgainIdentically(t *testing.T) {
	hook := newFlakyHook(t, "s3cret")
	n, err := New([]Route{{Name: "ops", Receiver: Webhook{URL: "http://" + hook.addr + "/dpmon", Secret: []byte("s3cret")}}},
		monitor.RetryPolicy{First: 10 * time.Second, Max: time.Minute, GiveUpAfter: time.Hour}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t, n.Route)
	warn(t, db, "acme")
	hook.mu.Lock()
	hook.drop = 1
	hook.mu.Unlock()
	for step := range 3 {
		if _, err := n.DeliverDue(context.Background(), db, t0.Add(time.Duration(step)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.got) != 1 {
		t.Fatalf("ids: %v, want one", hook.got)
	}
	for id, bodies := range hook.bodies {
		if len(bodies) != 2 || bodies[0] != bodies[1] {
			t.Errorf("%s: got %d bodies (identical: %v), want the same body twice", id, len(bodies), len(bodies) == 2 && bodies[0] == bodies[1])
		}
	}
}

// blockingReceiver holds every delivery until its context ends.
type blockingReceiver struct{ started chan struct{} }

func (b blockingReceiver) Deliver(ctx context.Context, _ monitor.Notification) (bool, error) {
	close(b.started)
	<-ctx.Done()
	return true, ctx.Err()
}

// A shutdown in the middle of a delivery records no attempt: the
// notification is still due, with its attempts and deadline untouched.
func TestAShutdownRecordsNoAttempt(t *testing.T) {
	recv := blockingReceiver{started: make(chan struct{})}
	n, err := New([]Route{{Name: "ops", Receiver: recv}}, monitor.DefaultRetryPolicy(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t, n.Route)
	warn(t, db, "acme")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-recv.started
		cancel()
	}()
	if _, err := n.DeliverDue(ctx, db, t0); err == nil {
		t.Fatal("DeliverDue: no error after the shutdown")
	}
	due, err := db.DueNotifications(context.Background(), t0, 10)
	if err != nil || len(due) != 1 || due[0].Attempts != 0 || due[0].LastError != "" {
		t.Fatalf("after the shutdown: %+v, %v; want it due with no attempt", due, err)
	}
}

func TestARefusedWebhookIsNotRetried(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook", http.StatusNotFound)
	})}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Close()
	retry, err := Webhook{URL: "http://" + lis.Addr().String()}.Deliver(context.Background(), monitor.Notification{ID: "x", Kind: monitor.KindSuspended})
	if retry || err == nil {
		t.Fatalf("a 404: retry %v, %v; want a failure not worth retrying", retry, err)
	}
}

// hostile is an account id a sender may choose (ids accept "<", ">", "!",
// "|" and spaces), written to ping a whole Slack channel and show it a
// phishing link.
const hostile = "<!channel> <https://evil.example/login|Click here to restore sending>"

// A Slack message is markup: what dpmon writes is bold, what users wrote
// (account ids, reasons carrying tickets' and admins' notes) arrives as
// text, with "&", "<" and ">" escaped as Slack asks.
func TestSlackMessage(t *testing.T) {
	var got map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = nil
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		account, reason, want string
	}{
		{"acme", "Sending is suspended.", "*[dpmon] Sending suspended for acme* — dpmon-x-9\nSending is suspended."},
		{hostile, "Admin's note: <!here> & <https://evil.example|restore>",
			"*[dpmon] Sending suspended for &lt;!channel&gt; &lt;https://evil.example/login|Click here to restore sending&gt;* — dpmon-x-9\n" +
				"Admin's note: &lt;!here&gt; &amp; &lt;https://evil.example|restore&gt;"},
	} {
		n := monitor.Notification{ID: "dpmon-x-9", Kind: monitor.KindSuspended, AccountID: tc.account,
			Transition: monitor.Transition{Reason: tc.reason}}
		if _, err := (Slack{URL: srv.URL}).Deliver(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		if got["text"] != tc.want {
			t.Errorf("got %q, want %q", got["text"], tc.want)
		}
	}
}

// A webhook's body is JSON: an account id or a reason written to look
// like markup, or like more JSON, arrives as the string it was.
func TestAWebhookCarriesHostileValuesAsData(t *testing.T) {
	var got Payload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	reason := "Admin's note: <!here> & <b>restore</b>\n\", \"kind\": \"probation_passed"
	n := monitor.Notification{ID: "dpmon-x-9", Kind: monitor.KindSuspended, AccountID: hostile,
		Transition: monitor.Transition{AccountID: hostile, Reason: reason}}
	if _, err := (Webhook{URL: srv.URL, Secret: []byte("k")}).Deliver(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if got.AccountID != hostile || got.Reason != reason || got.Kind != string(monitor.KindSuspended) {
		t.Errorf("got account %q, reason %q, kind %q; want %q, %q, suspended", got.AccountID, got.Reason, got.Kind, hostile, reason)
	}
}

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		f    Filter
		k    monitor.NotificationKind
		want bool
	}{
		{Filter{}, monitor.KindProbationPassed, true},
		{Filter{MinSeverity: monitor.SeverityWarning}, monitor.KindProbationPassed, false},
		{Filter{MinSeverity: monitor.SeverityWarning}, monitor.KindWarningRaised, true},
		{Filter{MinSeverity: monitor.SeverityCritical}, monitor.KindSuspendedAgain, true},
		{Filter{Kinds: []monitor.NotificationKind{monitor.KindTicketOpened}}, monitor.KindSuspended, false},
		{Filter{Kinds: []monitor.NotificationKind{monitor.KindTicketOpened}}, monitor.KindTicketOpened, true},
	} {
		if got := tc.f.Wants(tc.k); got != tc.want {
			t.Errorf("%+v wants %s: got %v, want %v", tc.f, tc.k, got, tc.want)
		}
	}
}

// heldReceiver holds each delivery until released, and says when it is
// holding one.
type heldReceiver struct{ holding, release chan struct{} }

func (h heldReceiver) Deliver(ctx context.Context, _ monitor.Notification) (bool, error) {
	close(h.holding)
	select {
	case <-h.release:
		return false, nil
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

type recordingReceiver struct{ got chan string }

func (r recordingReceiver) Deliver(_ context.Context, n monitor.Notification) (bool, error) {
	r.got <- n.ID
	return false, nil
}

// A receiver that hangs delays only its own notifications: the others
// are delivered meanwhile.
func TestAHangingReceiverDelaysOnlyItsOwn(t *testing.T) {
	slow := heldReceiver{holding: make(chan struct{}), release: make(chan struct{})}
	fast := recordingReceiver{got: make(chan string, 1)}
	n, err := New([]Route{{Name: "slow", Receiver: slow}, {Name: "fast", Receiver: fast}}, monitor.DefaultRetryPolicy(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t, n.Route)
	warn(t, db, "acme")
	done := make(chan int, 1)
	go func() {
		delivered, err := n.DeliverDue(context.Background(), db, t0)
		if err != nil {
			t.Error(err)
		}
		done <- delivered
	}()
	<-slow.holding
	select {
	case <-fast.got: // delivered while the slow one hangs
	case <-time.After(10 * time.Second):
		t.Fatal("the fast receiver waited for the hanging one")
	}
	close(slow.release)
	if got := <-done; got != 2 {
		t.Errorf("delivered %d, want 2", got)
	}
}

// openStore opens a real store at t0 whose changes are routed by route.
func openStore(t *testing.T, route func(monitor.Notification) []monitor.Notification) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{Policy: monitor.DefaultPolicy(), Limits: monitor.DefaultLimits(),
		Suppression: monitor.DefaultSuppressionPolicy(), Clock: monitortest.New(t0).Now, Route: route})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// secretURL is a receiver's URL on addr with a secret in each place a URL
// can hold one: a password, a path (a Slack webhook's) and a query.
func secretURL(addr string) string {
	return "http://user:hunter2@" + addr + "/services/T000/B000/XXXXSECRET?token=s3cret"
}

// A failed delivery names the receiver's host and port, never the rest of
// its URL: the error is logged, stored and shown to viewers.
func TestAFailureKeepsTheURLsSecrets(t *testing.T) {
	const hang = 0 // answer nothing until the test ends
	var status atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status.Load() == hang {
			<-release
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	defer close(release)
	host := srv.Listener.Addr().String()
	gone := testnet.FreeAddr(t) // nothing listens there: the connection is refused
	client := NoRedirects(&http.Client{Timeout: 100 * time.Millisecond})
	n := monitor.Notification{ID: "dpmon-x-9", Kind: monitor.KindSuspended, AccountID: "acme"}
	for _, tc := range []struct {
		name   string
		addr   string
		status int
		retry  bool
	}{
		{"a 500", host, http.StatusInternalServerError, true},
		{"a 400", host, http.StatusBadRequest, false},
		{"a timeout", host, hang, true},
		{"a refused connection", gone, http.StatusOK, true},
	} {
		status.Store(int32(tc.status))
		for _, r := range []struct {
			kind string
			recv Receiver
		}{
			{"webhook", Webhook{URL: secretURL(tc.addr), Secret: []byte("k"), Client: client}},
			{"slack", Slack{URL: secretURL(tc.addr), Client: client}},
		} {
			retry, err := r.recv.Deliver(context.Background(), n)
			if err == nil || retry != tc.retry {
				t.Errorf("%s, %s: retry %v, %v; want retry %v and an error", r.kind, tc.name, retry, err, tc.retry)
				continue
			}
			if !strings.Contains(err.Error(), "http://"+tc.addr) {
				t.Errorf("%s, %s: %q does not name the receiver http://%s", r.kind, tc.name, err, tc.addr)
			}
			for _, secret := range []string{"user", "hunter2", "XXXXSECRET", "services", "s3cret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%s, %s: %q holds %q", r.kind, tc.name, err, secret)
				}
			}
		}
	}
}

// leakyReceiver fails with an error that quotes its whole URL, as a
// careless receiver would.
type leakyReceiver struct{ url string }

func (l leakyReceiver) Deliver(context.Context, monitor.Notification) (bool, error) {
	return true, fmt.Errorf("Post %q: connection reset by peer", l.url)
}

// Whatever a receiver's error says, the log and the outbox keep only the
// origin of a URL in it.
func TestTheLogKeepsTheURLsSecrets(t *testing.T) {
	var log bytes.Buffer
	n, err := New([]Route{{Name: "ops", Receiver: leakyReceiver{url: secretURL("hooks.example.com")}}},
		monitor.DefaultRetryPolicy(), nil, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t, n.Route)
	warn(t, db, "acme")
	if _, err := n.DeliverDue(context.Background(), db, t0); err != nil {
		t.Fatal(err)
	}
	all, _, err := db.Notifications(context.Background(), store.NotificationFilter{}, 10, "")
	if err != nil || len(all) != 1 {
		t.Fatalf("notifications: %+v, %v; want one", all, err)
	}
	if want := `Post "http://hooks.example.com": connection reset by peer`; all[0].LastError != want {
		t.Errorf("last error %q, want %q", all[0].LastError, want)
	}
	if !strings.Contains(log.String(), "hooks.example.com") {
		t.Errorf("the log does not name the receiver's host:\n%s", &log)
	}
	for _, secret := range []string{"hunter2", "XXXXSECRET", "s3cret"} {
		if strings.Contains(log.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, &log)
		}
	}
}
