// Package console serves dpmon's web console under /ui/ on the HTTP
// listener: the pages operators reinstate accounts from, and the portal a
// sending platform's accounts read their standing on.
//
// The console holds no rules of its own. Every page and every action calls
// the gRPC API's handlers in process, as the signed-in identity (see
// server.Server.As): the same role checks, account scopes, validation and
// audit record as a call over gRPC. Pages are rendered on the server;
// charts are SVG drawn here. The little script there is only formats
// times and feeds the live overview; every form works without it.
package console

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/internal/loopback"
	"github.com/dpmon/dpmon/monitor"
	"github.com/dpmon/dpmon/server"
)

// API is dpmon's gRPC API served in process: *server.Server.
type API interface {
	pb.AccountServiceServer
	pb.TicketServiceServer
	pb.SuppressionServiceServer
	pb.NotificationServiceServer
	pb.AuditServiceServer
	As(ctx context.Context, id server.Identity, method string) (context.Context, error)
}

// Options configure the console.
type Options struct {
	API API
	// Auth checks the tokens typed into the sign-in form and the client
	// certificates a browser presents. Nil for a server without tokens,
	// whose console serves loopback only: anyone who reaches it signs in
	// as the open identity, as on the API.
	Auth *server.Authenticator
	// Phases counts the accounts by phase, and EventsDurable the events
	// committed since start, for the overview of an operator.
	Phases        func() map[monitor.Phase]int
	EventsDurable func() uint64
	// SessionTTL is how long a sign-in lasts (DefaultSessionTTL when 0).
	SessionTTL time.Duration
	Log        *slog.Logger
	// Clock is the console's time; time.Now when nil.
	Clock func() time.Time
	// AnyHost lets a console without tokens answer requests for any host
	// name (--insecure). Otherwise it answers only for loopback names:
	// a site whose name an attacker points at 127.0.0.1 (DNS rebinding)
	// would be same-origin for the browser, and an open console signs in
	// anyone.
	AnyHost bool
}

// DefaultSessionTTL is how long a sign-in lasts: a working day.
const DefaultSessionTTL = 12 * time.Hour

// pageSize is how many rows a list page shows.
const pageSize = 50

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Console is the handler of /ui/.
type Console struct {
	api      API
	auth     *server.Authenticator
	phases   func() map[monitor.Phase]int
	rate     *rateMeter
	sessions *sessions
	signIns  *signInLimiter
	anyHost  bool
	pages    map[string]*template.Template
	log      *slog.Logger
	clock    func() time.Time
	mux      *http.ServeMux
	// stop ends the live streams at shutdown, which would otherwise hold
	// the listener's graceful shutdown until its timeout.
	stop     chan struct{}
	stopOnce sync.Once
}

// New returns the console.
func New(opts Options) (*Console, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.Phases == nil {
		opts.Phases = func() map[monitor.Phase]int { return nil }
	}
	if opts.EventsDurable == nil {
		opts.EventsDurable = func() uint64 { return 0 }
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{
		api: opts.API, auth: opts.Auth, phases: opts.Phases,
		rate:     newRateMeter(opts.EventsDurable, opts.Clock),
		sessions: newSessions(opts.SessionTTL, opts.Clock),
		signIns:  newSignInLimiter(opts.Clock), anyHost: opts.AnyHost,
		pages: pages, log: opts.Log, clock: opts.Clock,
		stop: make(chan struct{}),
	}
	c.rate.PerSecond() // the first sample: a page a second on has a rate
	c.routes()
	return c, nil
}

// Close ends the live streams, so that the listener's shutdown does not
// wait for browsers that never hang up.
func (c *Console) Close() { c.stopOnce.Do(func() { close(c.stop) }) }

// ServeHTTP serves /ui/ with the headers every answer carries.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Scripts, styles and images come only from the console itself: a
	// string from outside that slipped into a page could run nothing.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if c.auth == nil && !c.anyHost && !loopback.Host(r.Host) {
		http.Error(w, "this console has no tokens and answers only at a loopback address, such as http://127.0.0.1", http.StatusMisdirectedRequest)
		return
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) routes() {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	mux.Handle("GET /ui/static/", cacheFor(time.Hour, http.StripPrefix("/ui/static/", http.FileServerFS(static))))
	mux.HandleFunc("GET /ui/login", c.loginPage)
	mux.HandleFunc("POST /ui/login", c.login)
	mux.HandleFunc("POST /ui/logout", c.signedIn(c.logout))
	mux.HandleFunc("GET /ui/{$}", c.signedIn(c.overview))
	mux.HandleFunc("GET /ui/events", c.signedIn(c.events))
	mux.HandleFunc("GET /ui/accounts", c.signedIn(c.accountList))
	mux.HandleFunc("GET /ui/accounts/{account_id}", c.signedIn(c.account))
	mux.HandleFunc("POST /ui/accounts/{account_id}/{action}", c.signedIn(c.accountAction))
	mux.HandleFunc("GET /ui/tickets", c.signedIn(c.ticketList))
	mux.HandleFunc("GET /ui/tickets/{ticket_id}", c.signedIn(c.ticket))
	mux.HandleFunc("POST /ui/tickets/{ticket_id}/{action}", c.signedIn(c.ticketAction))
	mux.HandleFunc("GET /ui/notifications", c.signedIn(c.notificationList))
	mux.HandleFunc("POST /ui/notifications/{notification_id}/retry", c.signedIn(c.retryNotification))
	mux.HandleFunc("GET /ui/audit", c.signedIn(c.auditList))
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusMovedPermanently) })
	// Go's cross-origin protection refuses a form posted from another
	// site (Sec-Fetch-Site, Origin) before the session's token is checked.
	c.mux = http.NewServeMux()
	c.mux.Handle("/ui/", http.NewCrossOriginProtection().Handler(mux))
	c.mux.Handle("/ui", mux)
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age="+strconv.Itoa(int(d/time.Second)))
		h.ServeHTTP(w, r)
	})
}
