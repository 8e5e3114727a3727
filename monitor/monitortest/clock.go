// Package monitortest helps test the packages built on monitor; for now a
// clock that tests set by hand, for code that takes a func() time.Time.
package monitortest

import (
	"sync"
	"time"
)

// Clock is safe for concurrent use: servers read it while tests move it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock showing t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the time the clock shows.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set makes the clock show t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
