package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"time"

	"github.com/dpmon/dpmon/metrics"
	"github.com/dpmon/dpmon/server"
)

// serveMetrics serves /metrics on its own listener, apart from gRPC, and
// returns the function that stops it. With a token file, a scrape needs a
// viewer's or an admin's credential: the metrics show the whole platform's
// volume, which a sender is denied. It serves over TLS when tlsCfg is set.
func serveMetrics(addr string, m *metrics.Metrics, auth *server.Authenticator, tlsCfg *tls.Config, log *slog.Logger) (stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	if tlsCfg != nil {
		lis = tls.NewListener(lis, tlsCfg)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", operatorsOnly(auth, m.Handler()))
	// Profiles, for finding where time goes under load; admins only, as
	// they show the program's insides.
	mux.Handle("GET /debug/pprof/", adminsOnly(auth, http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/profile", adminsOnly(auth, http.HandlerFunc(pprof.Profile)))
	// An execution trace shows where a slow call waited: a lock, the
	// scheduler, a system call.
	mux.Handle("GET /debug/pprof/trace", adminsOnly(auth, http.HandlerFunc(pprof.Trace)))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	log.Info("metrics serving", "addr", lis.Addr().String(), "path", "/metrics", "tls", tlsCfg != nil, "authenticated", auth != nil)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Warn("metrics server shutdown", "err", err)
		}
	}, nil
}

// adminsOnly lets through the requests of admins; nil auth lets every
// request through (an open server, on loopback or --insecure).
func adminsOnly(auth *server.Authenticator, next http.Handler) http.Handler {
	return onlyRoles(auth, next, "an admin's credential is needed",
		"profiles show the program's insides", server.RoleAdmin)
}

// operatorsOnly lets through the requests of viewers and admins; nil auth
// lets every request through (an open server, on loopback or --insecure).
func operatorsOnly(auth *server.Authenticator, next http.Handler) http.Handler {
	return onlyRoles(auth, next, "a viewer's or an admin's credential is needed",
		"metrics show the whole platform", server.RoleViewer, server.RoleAdmin)
}

// onlyRoles lets through the requests whose credential has one of roles:
// 401 without a valid one, 403 (saying why) with another role's.
func onlyRoles(auth *server.Authenticator, next http.Handler, needed, why string, roles ...server.Role) http.Handler {
	if auth == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := auth.AuthenticateHTTP(r)
		switch {
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="dpmon"`)
			http.Error(w, needed, http.StatusUnauthorized)
		case !slices.Contains(roles, id.Role):
			http.Error(w, why+": "+needed, http.StatusForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}
