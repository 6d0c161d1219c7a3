package emulator

import (
	"sync"
	"time"
)

// Clock is a settable time source for Options.Now: tests move it forward
// to expire installation tokens or reach a schedule without waiting.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now is the real time plus every Advance so far, so time still passes
// between advances (timeouts and durations stay meaningful).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock by d (forward; a negative d goes back, to date
// what a test makes in the past).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
