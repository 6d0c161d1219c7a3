package workspace

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// flock takes an exclusive flock on path, creating it, and returns the
// unlock func. flock locks belong to the open file description, so they
// exclude goroutines of one process as well as other processes, and the
// kernel drops them when a worker dies.
func flock(ctx context.Context, path string) (unlock func(), err error) {
	return lockPath(ctx, path, syscall.LOCK_EX)
}

// flockShared takes a shared flock on path, creating it: many holders may
// share it, and tryFlockCreate fails while any of them lives.
func flockShared(ctx context.Context, path string) (unlock func(), err error) {
	return lockPath(ctx, path, syscall.LOCK_SH)
}

func lockPath(ctx context.Context, path string, how int) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	// Poll rather than block so the wait honours ctx.
	delay := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return func() { unlockFile(f) }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// tryFlock takes an exclusive flock on an existing file without waiting.
// ok is false when someone else holds it.
func tryFlock(path string) (unlock func(), ok bool) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return func() { unlockFile(f) }, true
}

// unlockFile releases f's lock, then closes it. Closing alone is not enough:
// a child process forked elsewhere in this process between the open and the
// close holds the same open file (until its exec), and with it the lock.
func unlockFile(f *os.File) {
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	f.Close()
}

// tryFlockCreate is tryFlock on a file it creates if missing, for locks
// that holders create lazily (a missing file means no holder yet).
func tryFlockCreate(path string) (unlock func(), ok bool) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false
	}
	f.Close()
	return tryFlock(path)
}
