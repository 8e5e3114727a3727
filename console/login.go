package console

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dpmon/dpmon/server"
)

// loginForm is the sign-in page's data.
type loginForm struct {
	Next string
	// Open is set when the server has no tokens: anyone here may use it.
	Open bool
	// Certificate names the client certificate the browser presented, if
	// the server knows it.
	Certificate string
	Error       string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, nil, http.StatusOK, "login", "Sign in", "", c.loginForm(r, ""))
}

func (c *Console) loginForm(r *http.Request, problem string) loginForm {
	f := loginForm{Next: safeNext(r.FormValue("next")), Open: c.auth == nil, Error: problem}
	if id, ok := c.certificate(r); ok {
		f.Certificate = id.Name
	}
	return f
}

// certificate returns the identity of the verified client certificate r
// came with, if the server knows it. Only the certificate counts: an
// Authorization header is not what a sign-in form sends.
func (c *Console) certificate(r *http.Request) (server.Identity, bool) {
	if c.auth == nil || r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return server.Identity{}, false
	}
	id, err := c.auth.AuthenticateHTTP(&http.Request{TLS: r.TLS, Header: http.Header{}})
	return id, err == nil
}

// login signs in with a token typed into the form, else the browser's
// client certificate, else (a server without tokens) as the open identity.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.render(w, nil, http.StatusBadRequest, "login", "Sign in", "", c.loginForm(r, "The form could not be read."))
		return
	}
	peer := peerHost(r)
	if wait := c.signIns.wait(peer); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		c.render(w, nil, http.StatusTooManyRequests, "login", "Sign in", "", c.loginForm(r, "Too many sign-ins failed from here: try again in "+wait.Round(time.Minute).String()+"."))
		return
	}
	id, ok := c.identify(r)
	if !ok {
		if c.signIns.failed(peer) {
			c.log.Warn("console: sign-ins paused for a peer after repeated failures", "peer", peer, "failures", maxSignInFailures, "pause", signInPause.String())
		}
		c.render(w, nil, http.StatusUnauthorized, "login", "Sign in", "", c.loginForm(r, "That token is not known to this server."))
		return
	}
	c.signIns.succeeded(peer)
	key, _ := c.sessions.start(id)
	setSessionCookie(w, r, key, c.sessions.ttl)
	c.log.Info("console: signed in", "who", id.Name, "role", string(id.Role))
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) identify(r *http.Request) (server.Identity, bool) {
	token := strings.TrimSpace(r.PostFormValue("token"))
	switch {
	case c.auth == nil:
		return server.OpenIdentity(peerHost(r)), true
	case token != "":
		id, err := c.auth.AuthenticateToken(token)
		return id, err == nil
	}
	return c.certificate(r)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, sess *session) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.end(ck.Value)
	}
	clearSessionCookie(w, r)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// safeNext keeps a page of the console to go to after signing in, and
// nothing else: never another site ("//host", "/\host").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "/ui/login") || strings.ContainsAny(next, "\\\r\n") || strings.Contains(next, "//") {
		return "/ui/"
	}
	return next
}

func peerHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
