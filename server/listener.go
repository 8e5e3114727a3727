package server

import (
	"net"
	"sync"

	"golang.org/x/net/netutil"
)

// LimitListener bounds the connections l accepts: at most total at once
// (Accept waits for one to close, leaving the others in the kernel's
// backlog) and at most perPeer from one IP address (a further one is
// closed at once, so that one peer cannot take every slot). refused, when
// set, is told of each connection closed for its peer.
func LimitListener(l net.Listener, total, perPeer int, refused func()) net.Listener {
	return &peerLimitListener{Listener: netutil.LimitListener(l, total), perPeer: perPeer, refused: refused, open: make(map[string]int)}
}

type peerLimitListener struct {
	net.Listener
	perPeer int
	refused func()

	mu   sync.Mutex
	open map[string]int
}

func (l *peerLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := hostOf(c.RemoteAddr())
		l.mu.Lock()
		full := l.open[host] >= l.perPeer
		if !full {
			l.open[host]++
		}
		l.mu.Unlock()
		if full {
			_ = c.Close()
			if l.refused != nil {
				l.refused()
			}
			continue
		}
		return &peerConn{Conn: c, leave: func() { l.leave(host) }}, nil
	}
}

func (l *peerLimitListener) leave(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[host]--; l.open[host] <= 0 {
		delete(l.open, host)
	}
}

func hostOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
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
