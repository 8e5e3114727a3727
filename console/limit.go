package console

import (
	"sync"
	"time"
)

// Sign-in attempts a peer may get wrong before it must wait: a token is
// 256 bits, but the form sits on the listener the providers' webhooks
// reach from the internet, and each failure is a log line.
const (
	maxSignInFailures = 10
	signInPause       = 10 * time.Minute
	// maxPeersTracked bounds the memory the limiter keeps.
	maxPeersTracked = 10_000
)

// signInLimiter counts failed sign-ins by peer host.
type signInLimiter struct {
	clock func() time.Time

	mu    sync.Mutex
	peers map[string]*failures
}

type failures struct {
	n     int
	first time.Time
}

func newSignInLimiter(clock func() time.Time) *signInLimiter {
	return &signInLimiter{clock: clock, peers: map[string]*failures{}}
}

// wait returns how long host must wait before it may try again; 0 when it
// may now.
func (l *signInLimiter) wait(host string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.peers[host]
	if !ok || f.n < maxSignInFailures {
		return 0
	}
	if left := f.first.Add(signInPause).Sub(l.clock()); left > 0 {
		return left
	}
	delete(l.peers, host)
	return 0
}

// failed counts a failure of host and reports whether it was the one that
// reached the limit, for a single log line.
func (l *signInLimiter) failed(host string) (reached bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock()
	f, ok := l.peers[host]
	if !ok || now.Sub(f.first) > signInPause {
		if !ok && len(l.peers) >= maxPeersTracked {
			l.forget(now)
		}
		f = &failures{first: now}
		l.peers[host] = f
	}
	f.n++
	return f.n == maxSignInFailures
}

// forget drops the peers whose count has lapsed, or one at random when
// none has: a flood of hosts must not grow the map.
func (l *signInLimiter) forget(now time.Time) {
	for host, f := range l.peers {
		if now.Sub(f.first) > signInPause {
			delete(l.peers, host)
		}
	}
	for host := range l.peers {
		if len(l.peers) < maxPeersTracked {
			break
		}
		delete(l.peers, host)
	}
}

// succeeded clears host's count.
func (l *signInLimiter) succeeded(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.peers, host)
}
