package server

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/dpmon/dpmon/api/dpmon/v1"
	"github.com/dpmon/dpmon/monitor"
)

// Role is what a caller may do.
type Role string

// The roles.
const (
	// RoleSender is a sending platform: it ingests events, checks sends and
	// recipients, reads its accounts, opens tickets, comments on them and
	// acknowledges warnings, for its own accounts only.
	RoleSender Role = "sender"
	// RoleViewer reads everything and changes nothing.
	RoleViewer Role = "viewer"
	// RoleAdmin does everything: settings, approvals, manual suspensions,
	// suppression edits, the audit log.
	RoleAdmin Role = "admin"
	// roleOpen is every caller of a server without authentication, which
	// listens on loopback only (see cmd/dpmon).
	roleOpen Role = "open"
)

// Valid reports whether r is one of the roles a credential may have.
func (r Role) Valid() bool { return r == RoleSender || r == RoleViewer || r == RoleAdmin }

// Credential is one entry of the token file: a bearer token, known only by
// its SHA-256 digest, or a client certificate's subject common name.
type Credential struct {
	Name string
	// SHA256 is the hex digest of the bearer token.
	SHA256 string
	// ClientCN is the common name of a client certificate signed by the
	// server's client CA (mTLS).
	ClientCN string
	Role     Role
	// Accounts scope a sender; empty means all accounts.
	Accounts []string
	// CreateAccounts lets a credential without Accounts create accounts by
	// sending their first events; without it, such a credential may send
	// events only for accounts that exist. A scoped sender creates its own
	// accounts.
	CreateAccounts bool
}

// Identity is an authenticated caller.
type Identity struct {
	Name     string
	Role     Role
	accounts []string // nil: every account
	// mayCreate is whether events may create accounts the identity does
	// not list.
	mayCreate bool
}

// mayUse reports whether the identity may read or write account id.
func (id Identity) mayUse(account string) bool {
	return id.accounts == nil || slices.Contains(id.accounts, account)
}

// Authenticator maps the credentials a caller presents to an identity.
type Authenticator struct {
	tokens map[[sha256.Size]byte]Identity
	certs  map[string]Identity
}

// NewAuthenticator checks the credentials and indexes them.
func NewAuthenticator(creds []Credential) (*Authenticator, error) {
	a := &Authenticator{tokens: map[[sha256.Size]byte]Identity{}, certs: map[string]Identity{}}
	names := map[string]bool{}
	for i, c := range creds {
		where := fmt.Sprintf("tokens[%d]", i)
		switch {
		case c.Name == "" || names[c.Name]:
			return nil, fmt.Errorf("%s: name must be set and unique", where)
		case !c.Role.Valid():
			return nil, fmt.Errorf("%s (%s): role must be sender, viewer or admin, got %q", where, c.Name, c.Role)
		case c.Accounts != nil && c.Role != RoleSender:
			return nil, fmt.Errorf("%s (%s): only a sender is scoped to accounts", where, c.Name)
		case c.Accounts != nil && len(c.Accounts) == 0:
			// Leave the key out for all accounts; an empty list is a mistake.
			return nil, fmt.Errorf("%s (%s): accounts is empty; omit it to allow every account", where, c.Name)
		case c.CreateAccounts && c.Accounts != nil:
			return nil, fmt.Errorf("%s (%s): create_accounts is for a credential without accounts; a scoped sender creates its own", where, c.Name)
		case (c.SHA256 == "") == (c.ClientCN == ""):
			return nil, fmt.Errorf("%s (%s): give exactly one of sha256 and client_cn", where, c.Name)
		}
		names[c.Name] = true
		id := Identity{Name: c.Name, Role: c.Role, accounts: slices.Clone(c.Accounts), mayCreate: c.CreateAccounts}
		if c.ClientCN != "" {
			if _, dup := a.certs[c.ClientCN]; dup {
				return nil, fmt.Errorf("%s (%s): client_cn %q is given twice", where, c.Name, c.ClientCN)
			}
			a.certs[c.ClientCN] = id
			continue
		}
		digest, err := hex.DecodeString(c.SHA256)
		if err != nil || len(digest) != sha256.Size {
			return nil, fmt.Errorf("%s (%s): sha256 must be 64 hex digits", where, c.Name)
		}
		if _, dup := a.tokens[[sha256.Size]byte(digest)]; dup {
			return nil, fmt.Errorf("%s (%s): the same token is given twice", where, c.Name)
		}
		a.tokens[[sha256.Size]byte(digest)] = id
	}
	return a, nil
}

// UsesClientCertificates reports whether any credential is a client
// certificate, which needs a client CA to be verified.
func (a *Authenticator) UsesClientCertificates() bool { return len(a.certs) > 0 }

// authenticate returns the caller's identity: from a verified client
// certificate, else from the bearer token.
func (a *Authenticator) authenticate(ctx context.Context) (Identity, error) {
	var chains [][]*x509.Certificate
	if p, ok := peer.FromContext(ctx); ok {
		if tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			chains = tlsInfo.State.VerifiedChains
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return a.identify(chains, md.Get("authorization"))
}

// AuthenticateHTTP returns the identity of an HTTP request, by the same
// rules as a gRPC call's: a verified client certificate, else the bearer
// token of its Authorization header.
func (a *Authenticator) AuthenticateHTTP(r *http.Request) (Identity, error) {
	var chains [][]*x509.Certificate
	if r.TLS != nil {
		chains = r.TLS.VerifiedChains
	}
	return a.identify(chains, r.Header.Values("Authorization"))
}

// AuthenticateToken returns the identity of a bearer token, as typed into
// the console's sign-in form.
func (a *Authenticator) AuthenticateToken(token string) (Identity, error) {
	return a.identify(nil, []string{"Bearer " + token})
}

func (a *Authenticator) identify(verifiedChains [][]*x509.Certificate, authorization []string) (Identity, error) {
	if len(verifiedChains) > 0 {
		if id, ok := a.certs[verifiedChains[0][0].Subject.CommonName]; ok {
			return id, nil
		}
	}
	if len(authorization) == 0 {
		return Identity{}, status.Error(codes.Unauthenticated, "missing credentials: send \"authorization: Bearer <token>\"")
	}
	scheme, token, ok := strings.Cut(authorization[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") { // the scheme is case-insensitive (RFC 7235)
		return Identity{}, status.Error(codes.Unauthenticated, "the authorization header must be \"Bearer <token>\"")
	}
	// Tokens are looked up by their digest: the lookup's timing can tell
	// nothing about a token an attacker does not already have.
	id, ok := a.tokens[sha256.Sum256([]byte(token))]
	if !ok {
		return Identity{}, status.Error(codes.Unauthenticated, "unknown token")
	}
	return id, nil
}

type identityKey struct{}

// identity returns the caller's identity, set by the interceptors.
func identity(ctx context.Context) Identity {
	id, _ := ctx.Value(identityKey{}).(Identity)
	return id
}

// actor names the caller for histories and the audit log.
func actor(ctx context.Context) monitor.Actor {
	id := identity(ctx)
	return monitor.Actor{Name: id.Name, Role: string(id.Role)}
}

// access is who may call a method.
type access uint8

const (
	// anyone authenticated: classification.
	anyRole access = iota
	// readers: senders (their accounts), viewers, admins.
	readers
	// writers: senders (their accounts) and admins.
	writers
	// operators: viewers and admins, not senders: what dpmon does beyond
	// any one account.
	operators
	// admins only.
	admins
)

// methodAccess says who may call each method. Health checks need no
// credentials, so that probes work, and reflection any (see authorize);
// any other method not listed is refused, so that a new method is never
// public by mistake.
var methodAccess = map[string]access{
	pb.EventService_IngestEvents_FullMethodName:             writers,
	pb.EventService_StreamEvents_FullMethodName:             writers,
	pb.EventService_ListUnmappedEvents_FullMethodName:       operators,
	pb.AccountService_GetAccount_FullMethodName:             readers,
	pb.AccountService_ListAccounts_FullMethodName:           readers,
	pb.AccountService_ListAccountTransitions_FullMethodName: readers,
	pb.AccountService_CheckSend_FullMethodName:              readers,
	pb.AccountService_UpdateAccount_FullMethodName:          admins,
	pb.AccountService_AcknowledgeWarning_FullMethodName:     writers,
	pb.AccountService_SuspendAccount_FullMethodName:         admins,
	pb.AccountService_WatchTransitions_FullMethodName:       readers,
	pb.AccountService_UnblockSender_FullMethodName:          admins,
	pb.AccountService_GetReputationHistory_FullMethodName:   readers,
	pb.BounceService_ClassifyBounce_FullMethodName:          anyRole,
	pb.SuppressionService_CheckRecipients_FullMethodName:    readers,
	pb.SuppressionService_ListSuppressions_FullMethodName:   readers,
	pb.SuppressionService_GetRecipient_FullMethodName:       readers,
	pb.SuppressionService_ExportSuppressions_FullMethodName: readers,
	pb.SuppressionService_AddSuppression_FullMethodName:     admins,
	pb.SuppressionService_DeleteSuppression_FullMethodName:  admins,
	pb.SuppressionService_ImportSuppressions_FullMethodName: admins,
	pb.TicketService_CreateTicket_FullMethodName:            writers,
	pb.TicketService_GetTicket_FullMethodName:               readers,
	pb.TicketService_ListTickets_FullMethodName:             readers,
	pb.TicketService_AddTicketComment_FullMethodName:        writers,
	pb.TicketService_ApproveTicket_FullMethodName:           admins,
	pb.TicketService_RejectTicket_FullMethodName:            admins,
	pb.AuditService_ListAuditEvents_FullMethodName:          admins,
	pb.NotificationService_ListNotifications_FullMethodName: operators,
	pb.NotificationService_RetryNotification_FullMethodName: admins,
	pb.BackupService_Backup_FullMethodName:                  admins,
}

func (a access) allows(r Role) bool {
	switch a {
	case anyRole:
		return true
	case readers:
		return r == RoleSender || r == RoleViewer || r == RoleAdmin || r == roleOpen
	case writers:
		return r == RoleSender || r == RoleAdmin || r == roleOpen
	case operators:
		return r == RoleViewer || r == RoleAdmin || r == roleOpen
	}
	return r == RoleAdmin || r == roleOpen
}

// authorize authenticates the caller of method and checks its role; it
// returns the context carrying the identity, and whether the method needs
// credentials at all (health checks and reflection do not). Account scopes
// are checked by the handlers, which know the account.
func (s *Server) authorize(ctx context.Context, method string) (context.Context, bool, error) {
	need, listed := methodAccess[method]
	switch {
	case strings.HasPrefix(method, "/grpc.health.v1.Health/"):
		// Probes carry no credentials; admission bounds what they hold.
		return ctx, false, nil
	case strings.HasPrefix(method, "/grpc.reflection."):
		// It describes the API to anyone with a credential. Without one it
		// would be a stream of requests that nobody vouches for.
		need = anyRole
	case !listed:
		return ctx, false, status.Errorf(codes.PermissionDenied, "%s is not open to callers", method)
	case !s.ready.Load():
		return ctx, true, unavailable("dpmon is starting: it is rebuilding its state from disk", retryStarting)
	}
	var id Identity
	if s.auth == nil {
		// The host without the port: one person reconnecting must not count
		// as two admins.
		id = OpenIdentity(peerHost(ctx))
	} else {
		var err error
		if id, err = s.auth.authenticate(ctx); err != nil {
			return ctx, false, err
		}
	}
	ctx, err := admit(ctx, id, method, need)
	return ctx, true, err
}

// admit returns ctx carrying id when id's role may call method.
func admit(ctx context.Context, id Identity, method string, need access) (context.Context, error) {
	if !need.allows(id.Role) {
		return ctx, status.Errorf(codes.PermissionDenied, "%s (%s) may not call %s", id.Name, id.Role, method[strings.LastIndexByte(method, '/')+1:])
	}
	return context.WithValue(ctx, identityKey{}, id), nil
}

// OpenIdentity is every caller from host of a server without
// authentication, which serves loopback only: it may do everything.
func OpenIdentity(host string) Identity {
	return Identity{Name: "unauthenticated caller at " + host, Role: roleOpen, mayCreate: true}
}

// As returns ctx for calling method's handler in process as id, the web
// console's way in: it makes the checks the gRPC interceptors make of a
// call (dpmon is ready, id's role may call method), and the handler makes
// the rest as for any call (account scopes, the audit record).
func (s *Server) As(ctx context.Context, id Identity, method string) (context.Context, error) {
	need, listed := methodAccess[method]
	switch {
	case !listed:
		return ctx, status.Errorf(codes.PermissionDenied, "%s is not open to callers", method)
	case !s.ready.Load():
		return ctx, unavailable("dpmon is starting: it is rebuilding its state from disk", retryStarting)
	}
	return admit(ctx, id, method, need)
}

// May reports whether id may call method, for showing only the actions a
// caller may take; As checks it again when the call is made.
func (id Identity) May(method string) bool {
	need, listed := methodAccess[method]
	return listed && need.allows(id.Role)
}

// unaryAuth and streamAuth authorize calls that did not pass the tap
// (which sets the identity before the body is read): a server used
// without it, as through ServeHTTP, still checks every call.
func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if _, tapped := ctx.Value(identityKey{}).(Identity); !tapped {
		var err error
		if ctx, _, err = s.authorize(ctx, info.FullMethod); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := ss.Context()
	if _, tapped := ctx.Value(identityKey{}).(Identity); tapped {
		return handler(srv, ss)
	}
	ctx, _, err := s.authorize(ctx, info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &authedStream{ServerStream: ss, ctx: ctx})
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authedStream) Context() context.Context { return s.ctx }

// checkScope answers PERMISSION_DENIED when the caller is a sender scoped
// to other accounts than account.
func checkScope(ctx context.Context, account string) error {
	id := identity(ctx)
	if id.mayUse(account) {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "%s may not use account %q", id.Name, account)
}

// checkEventScopes refuses a batch with an event of an account the caller
// may not use: all of it, so that nothing of it is half accepted.
func checkEventScopes(ctx context.Context, events []*pb.Event) error {
	id := identity(ctx)
	if id.accounts == nil {
		return nil
	}
	for i, e := range events {
		// An event without a valid account id is rejected on its own later.
		if monitor.CheckID(e.GetAccountId()) == "" && !id.mayUse(e.GetAccountId()) {
			return status.Errorf(codes.PermissionDenied, "events[%d]: %s may not use account %q", i, id.Name, e.GetAccountId())
		}
	}
	return nil
}
