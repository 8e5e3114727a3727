package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/dpmon/dpmon/server"
)

// sessionCookie names the cookie that holds a session's id.
const sessionCookie = "dpmon_session"

// maxSessions bounds the sessions kept: past it, the one closest to
// expiring goes, so that sign-ins cannot grow memory without end.
const maxSessions = 10_000

// session is one sign-in: who, until when, and the token every form of
// the session must carry (the defence against cross-site requests besides
// SameSite and the Origin check).
type session struct {
	key     string
	id      server.Identity
	csrf    string
	expires time.Time
}

// sessions are kept in memory: a restart signs everyone out, which a
// console of this kind can afford, and no session secret lies on disk.
type sessions struct {
	mu    sync.Mutex
	byKey map[string]*session
	ttl   time.Duration
	clock func() time.Time
}

func newSessions(ttl time.Duration, clock func() time.Time) *sessions {
	return &sessions{byKey: map[string]*session{}, ttl: ttl, clock: clock}
}

// start begins a session for id and returns its key.
func (s *sessions) start(id server.Identity) (string, *session) {
	key, csrf := randomToken(), randomToken()
	now := s.clock()
	sess := &session{key: key, id: id, csrf: csrf, expires: now.Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byKey) >= maxSessions {
		s.evict(now)
	}
	s.byKey[key] = sess
	return key, sess
}

// evict drops the expired sessions, or the one closest to expiring when
// none has.
func (s *sessions) evict(now time.Time) {
	var soonest string
	for k, v := range s.byKey {
		if !now.Before(v.expires) {
			delete(s.byKey, k)
			continue
		}
		if soonest == "" || v.expires.Before(s.byKey[soonest].expires) {
			soonest = k
		}
	}
	if len(s.byKey) >= maxSessions {
		delete(s.byKey, soonest)
	}
}

// find returns the live session of key.
func (s *sessions) find(key string) (*session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byKey[key]
	if ok && !s.clock().Before(sess.expires) {
		delete(s.byKey, key)
		return nil, false
	}
	return sess, ok
}

func (s *sessions) end(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byKey, key)
}

// randomToken returns 256 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validCSRF reports whether the form of r carries the session's token.
func (sess *session) validCSRF(r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) == 1
}

// maxFormBytes bounds a posted form: notes and ticket descriptions are a
// few kilobytes at most.
const maxFormBytes = 64 << 10

// signedIn serves h to a request of a live session; others are sent to
// sign in (pages) or refused (the live stream). A post must carry the
// session's CSRF token.
func (c *Console) signedIn(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var sess *session
		if ck, err := r.Cookie(sessionCookie); err == nil {
			sess, _ = c.sessions.find(ck.Value)
		}
		if sess == nil {
			if r.Method != http.MethodGet || r.URL.Path == "/ui/events" {
				http.Error(w, "sign in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, sess, errBadForm)
				return
			}
			if !sess.validCSRF(r) {
				c.fail(w, r, sess, errCSRF)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, sess)
	}
}

func setSessionCookie(w http.ResponseWriter, r *http.Request, key string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: key, Path: "/ui/",
		MaxAge: int(ttl / time.Second), HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/ui/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}
