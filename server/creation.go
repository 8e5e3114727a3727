package server

import (
	"context"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dpmon/dpmon/monitor"
)

// Reasons a new account is refused, for metrics.
const (
	// AccountsRefusedLimit: the server holds limits.max_accounts.
	AccountsRefusedLimit = "max_accounts"
	// AccountsRefusedRate: the credential created too many too fast.
	AccountsRefusedRate = "rate"
	// AccountsRefusedNotAllowed: the credential may not create accounts.
	AccountsRefusedNotAllowed = "not_allowed"
)

// creators paces the accounts each credential creates. Every account costs
// memory for as long as it is tracked, so one credential must not be able
// to fill the server's limit of accounts in a moment.
type creators struct {
	perMinute int
	mu        sync.Mutex
	limiters  map[string]*rate.Limiter // by credential name: as many as the token file has
}

func newCreators(perMinute int) *creators {
	return &creators{perMinute: perMinute, limiters: make(map[string]*rate.Limiter)}
}

// take accounts for n new accounts by name at now; when they do not fit,
// it takes nothing and says how long to wait (0: they never will, n is
// more than a minute's worth). Calling undo gives them back, for accounts
// that were not created after all.
func (c *creators) take(name string, n int, now time.Time) (undo func(), wait time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, found := c.limiters[name]
	if !found {
		l = rate.NewLimiter(rate.Limit(float64(c.perMinute)/60), c.perMinute)
		c.limiters[name] = l
	}
	r := l.ReserveN(now, n)
	if !r.OK() {
		return nil, 0, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d, false
	}
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		r.Cancel()
	}, 0, true
}

// checkNewAccounts refuses valid events that would create accounts their
// caller may not create, or more than its pace allows; undo gives the
// pace back should the events not be committed. Only a credential that may
// use every account can create accounts without bound: a scoped sender
// creates only the few it lists, and an open server serves loopback only.
func (s *Server) checkNewAccounts(ctx context.Context, events []monitor.Event) (undo func(), err error) {
	id := identity(ctx)
	if id.Role == roleOpen || id.accounts != nil {
		return func() {}, nil
	}
	var ids []string
	seen := make(map[string]struct{})
	for i := range events {
		a := events[i].AccountID
		if _, dup := seen[a]; !dup {
			seen[a] = struct{}{}
			ids = append(ids, a)
		}
	}
	return s.mayCreate(ctx, s.db.Unknown(ids), false)
}

// mayCreate checks that the caller may create the accounts named, and
// takes them from its pace. An admin's explicit creation (UpdateAccount)
// needs no create_accounts: only events create accounts by the way.
func (s *Server) mayCreate(ctx context.Context, accounts []string, explicit bool) (undo func(), err error) {
	id := identity(ctx)
	if len(accounts) == 0 || id.Role == roleOpen {
		return func() {}, nil
	}
	if !id.mayCreate && !explicit {
		s.refuseAccount(AccountsRefusedNotAllowed)
		return nil, status.Errorf(codes.PermissionDenied, "%s may not create accounts (%q is new): give its credential create_accounts: true, or have an admin create the account", id.Name, accounts[0])
	}
	undo, wait, ok := s.creators.take(id.Name, len(accounts), s.clock())
	if !ok {
		s.refuseAccount(AccountsRefusedRate)
		msg := id.Name + " creates accounts faster than " + strconv.Itoa(s.limits.NewAccountsPerMinute) + " a minute (limits.new_accounts_per_minute)"
		if wait == 0 {
			return nil, status.Error(codes.ResourceExhausted, msg+"; send the first events of fewer new accounts at once")
		}
		return nil, resourceExhausted(msg+"; retry later", wait)
	}
	return undo, nil
}

func (s *Server) refuseAccount(reason string) {
	if s.accountsRefused != nil {
		s.accountsRefused(reason)
	}
}
