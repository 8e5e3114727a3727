package server

import (
	"net"
	"sync"
	"time"

	"golang.org/x/net/netutil"
)

// Listener bounds the connections it accepts: at most total at once
// (Accept waits for one to close, leaving the others in the kernel's
// backlog) and at most perPeer from one address (see hostOf; a further one
// is closed at once, so that one peer cannot take every slot). An address
// can be cut off for a while with Ban.
type Listener struct {
	net.Listener
	perPeer int
	refused func()
	now     func() time.Time

	mu     sync.Mutex
	open   map[string]map[*peerConn]struct{}
	banned map[string]time.Time // until when
}

// LimitListener wraps l; refused, when set, is told of each connection
// closed at once for its peer.
func LimitListener(l net.Listener, total, perPeer int, refused func()) *Listener {
	return &Listener{Listener: netutil.LimitListener(l, total), perPeer: perPeer, refused: refused, now: time.Now,
		open: make(map[string]map[*peerConn]struct{}), banned: make(map[string]time.Time)}
}

// Accept returns the next connection its peer may open.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := hostOf(c.RemoteAddr())
		if pc, ok := l.admit(host, c); ok {
			return pc, nil
		}
		_ = c.Close()
		if l.refused != nil {
			l.refused()
		}
	}
}

func (l *Listener) admit(host string, c net.Conn) (*peerConn, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until, ok := l.banned[host]; ok {
		if l.now().Before(until) {
			return nil, false
		}
		delete(l.banned, host)
	}
	conns := l.open[host]
	if len(conns) >= l.perPeer {
		return nil, false
	}
	if conns == nil {
		conns = make(map[*peerConn]struct{})
		l.open[host] = conns
	}
	pc := &peerConn{Conn: c}
	pc.leave = func() { l.leave(host, pc) }
	conns[pc] = struct{}{}
	return pc, true
}

func (l *Listener) leave(host string, pc *peerConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.open[host], pc)
	if len(l.open[host]) == 0 {
		delete(l.open, host)
	}
}

// Ban closes the connections of host and refuses its new ones for d.
func (l *Listener) Ban(host string, d time.Duration) {
	l.mu.Lock()
	now := l.now()
	l.banned[host] = now.Add(d)
	for h, until := range l.banned { // forget the bans that have run out
		if !now.Before(until) {
			delete(l.banned, h)
		}
	}
	var conns []*peerConn
	for pc := range l.open[host] {
		conns = append(conns, pc)
	}
	l.mu.Unlock()
	for _, pc := range conns {
		_ = pc.Close()
	}
}

// peerConn gives its peer's slot back on its first Close.
type peerConn struct {
	net.Conn
	once  sync.Once
	leave func()
}

func (c *peerConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.leave)
	return err
}
