package workspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

const (
	// workPrefix names live (or dead) Workdir roots under <Dir>/work;
	// newPrefix names roots still being made, before their lock is held.
	workPrefix = "wd-"
	newPrefix  = "new-"
	// debrisGrace is how old a directory must be before it counts as
	// debris when no lock can prove its maker dead (a root being made, an
	// overlay probe): such a maker is done within milliseconds.
	debrisGrace = 10 * time.Minute
)

var fullSHA = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// Swept counts what Sweep or Prune removed.
type Swept struct {
	Workdirs int   // working copies of dead cycles
	Mounts   int   // their overlay mounts, unmounted
	Temp     int   // half-built mirrors, pristine checkouts and roots
	Pristine int   // pristine checkouts: broken, unused past the age, or evicted
	Mirrors  int   // mirrors evicted by the size bound
	Evicted  int64 // bytes the size bound freed
}

func (s Swept) empty() bool { return s == Swept{} }

func (s Swept) logArgs() []any {
	return []any{"workdirs", s.Workdirs, "mounts", s.Mounts, "temp", s.Temp,
		"pristine", s.Pristine, "mirrors", s.Mirrors, "evicted_bytes", s.Evicted}
}

// useLockPath is the lock every Workdir of key holds shared for its life.
func (c *Cache) useLockPath(key string) string {
	return filepath.Join(c.Dir, "locks", key+".use")
}

// repoLockPath is the lock Fetch holds on key's mirror.
func (c *Cache) repoLockPath(key string) string {
	return filepath.Join(c.Dir, "locks", key+".lock")
}

// Sweep removes what dead workers (in this process's past or in others
// sharing Dir) left: working copies whose lock is free, unmounting them
// first, half-built mirrors and pristine checkouts whose lock is free, and
// pristine checkouts a crash left incomplete. A live Workdir, of any
// process, is never touched. Run it when a worker starts and when it takes
// over a dead worker's cycle.
func (c *Cache) Sweep(ctx context.Context) (Swept, error) {
	var s Swept
	_, err := c.sweep(ctx, &s)
	if !s.empty() {
		c.logger().InfoContext(ctx, "workspace: removed what dead cycles left", s.logArgs()...)
	}
	if err != nil {
		return s, fmt.Errorf("sweep %s: %w", c.Dir, err)
	}
	return s, nil
}

// sweep is Sweep, returning the pristine checkouts live Workdirs use.
func (c *Cache) sweep(ctx context.Context, s *Swept) (inUse map[string]bool, err error) {
	inUse, werr := c.sweepWork(ctx, s)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	terr := c.sweepTemp(ctx, s)
	return inUse, errors.Join(werr, terr)
}

// sweepWork removes dead Workdir roots and stale roots-in-the-making, and
// returns the pristine checkouts of the live ones.
func (c *Cache) sweepWork(ctx context.Context, s *Swept) (map[string]bool, error) {
	workRoot := filepath.Join(c.Dir, "work")
	entries, err := os.ReadDir(workRoot)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	inUse := map[string]bool{}
	var errs []error
	for _, e := range entries {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		info, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		dir := filepath.Join(workRoot, e.Name())
		stale := time.Since(info.ModTime()) > debrisGrace
		lock := filepath.Join(dir, "lock")
		unlock, free := tryFlock(lock)
		if _, err := os.Stat(lock); errors.Is(err, fs.ErrNotExist) {
			// No lock to prove its maker dead: only age can.
			free = stale
		} else if !strings.HasPrefix(e.Name(), workPrefix) {
			// A new- root's maker holds its lock within microseconds of
			// creating it; a probe has none. Age decides for both.
			free = free && stale
		}
		if !free {
			if unlock != nil {
				unlock()
			}
			if p, err := os.ReadFile(filepath.Join(dir, "pristine")); err == nil {
				inUse[string(p)] = true
			}
			continue
		}
		n, err := removeWorkRootCount(dir)
		if unlock != nil {
			unlock()
		}
		s.Mounts += n
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if strings.HasPrefix(e.Name(), workPrefix) {
			s.Workdirs++
		} else {
			s.Temp++
		}
	}
	return inUse, errors.Join(errs...)
}

// sweepTemp removes half-built mirrors and pristine checkouts, and
// pristine checkouts a crash left without their ready file, each under
// the lock its builder holds.
func (c *Cache) sweepTemp(ctx context.Context, s *Swept) error {
	var errs []error
	pristineRoot := filepath.Join(c.Dir, "pristine")
	filepath.WalkDir(pristineRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == pristineRoot {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Only a pristine checkout has a lock file beside it (its builder
		// made it first), so a repository named like a sha is never taken
		// for one.
		name := d.Name()
		if sha, ok := strings.CutSuffix(name, ".tmp"); ok && fullSHA.MatchString(sha) {
			pdir := filepath.Join(filepath.Dir(p), sha)
			if _, err := os.Stat(pdir + ".lock"); err != nil {
				return nil
			}
			if unlock, ok := tryFlock(pdir + ".lock"); ok {
				if err := removeTmp(p); err != nil {
					errs = append(errs, err)
				} else {
					s.Temp++
				}
				unlock()
			}
			return filepath.SkipDir
		}
		if _, err := os.Stat(p + ".lock"); err != nil || !fullSHA.MatchString(name) {
			return nil
		}
		if _, err := os.Stat(filepath.Join(p, "ready")); err == nil {
			return filepath.SkipDir
		}
		if unlock, ok := tryFlock(p + ".lock"); ok {
			// Re-check under the lock: a materialise may have renamed it in.
			if _, err := os.Stat(filepath.Join(p, "ready")); errors.Is(err, fs.ErrNotExist) {
				if err := os.RemoveAll(p); err != nil {
					errs = append(errs, err)
				} else {
					s.Pristine++
				}
			}
			unlock()
		}
		return filepath.SkipDir
	})
	mirrorRoot := filepath.Join(c.Dir, "mirrors")
	filepath.WalkDir(mirrorRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasSuffix(p, ".git") {
			return filepath.SkipDir
		}
		base, ok := strings.CutSuffix(p, ".git.tmp")
		if !ok {
			return nil
		}
		key, err := filepath.Rel(mirrorRoot, base)
		if err != nil {
			return filepath.SkipDir
		}
		if unlock, ok := tryFlockCreate(c.repoLockPath(key)); ok {
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
			} else {
				s.Temp++
			}
			unlock()
		}
		return filepath.SkipDir
	})
	return errors.Join(errs...)
}

// Prune is Sweep, then removes pristine checkouts not used for olderThan
// that no live Workdir, and no remaining pristine checkout layered on
// them, is built on, and then enforces MaxBytes (see evict). Mirrors go
// only to the size bound.
func (c *Cache) Prune(ctx context.Context, olderThan time.Duration) error {
	var s Swept
	inUse, err := c.sweep(ctx, &s)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	errs := []error{err}
	errs = append(errs, c.pruneAged(ctx, time.Now().Add(-olderThan), inUse, &s))
	errs = append(errs, c.evict(ctx, inUse, &s))
	if !s.empty() {
		c.logger().InfoContext(ctx, "workspace: pruned", append(s.logArgs(), "older_than", olderThan)...)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return nil
}

// pristine is one ready pristine checkout.
type pristine struct {
	dir     string
	chain   []string // nil when unreadable
	lastUse time.Time
}

func (c *Cache) pristines() []pristine {
	var out []pristine
	filepath.WalkDir(filepath.Join(c.Dir, "pristine"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		info, err := os.Stat(filepath.Join(p, "ready"))
		if err != nil {
			return nil
		}
		chain, _ := readChain(p)
		out = append(out, pristine{dir: p, chain: chain, lastUse: info.ModTime()})
		return filepath.SkipDir
	})
	return out
}

// layeredOn reports whether a pristine checkout other than those in gone
// is layered on pdir.
func layeredOn(all []pristine, gone map[string]bool, pdir string) bool {
	keyDir, sha := filepath.Dir(pdir), filepath.Base(pdir)
	for _, p := range all {
		if gone[p.dir] || p.dir == pdir || filepath.Dir(p.dir) != keyDir || len(p.chain) < 2 {
			continue
		}
		if slices.Contains(p.chain[1:], sha) {
			return true
		}
	}
	return false
}

// removePristine removes pdir under its lock if it was last used at
// lastUse: a Checkout using it since touched its ready file.
func removePristine(pdir string, lastUse time.Time) (bool, error) {
	unlock, ok := tryFlock(pdir + ".lock")
	if !ok {
		return false, nil
	}
	defer unlock()
	info, err := os.Stat(filepath.Join(pdir, "ready"))
	if err != nil || !info.ModTime().Equal(lastUse) {
		return false, nil
	}
	if err := os.RemoveAll(pdir); err != nil {
		return false, err
	}
	return true, nil
}

// pruneAged removes pristine checkouts last used before cutoff that
// nothing kept is built on.
func (c *Cache) pruneAged(ctx context.Context, cutoff time.Time, inUse map[string]bool, s *Swept) error {
	all := c.pristines()
	candidates := map[string]bool{}
	for _, p := range all {
		if !inUse[p.dir] && p.lastUse.Before(cutoff) {
			candidates[p.dir] = true
		}
	}
	// A pristine checkout that stays keeps every one it is layered on. (A
	// layer built after this scan marked its parents used under their
	// locks, which removePristine's re-check sees.)
	for _, p := range all {
		if candidates[p.dir] || p.chain == nil {
			continue
		}
		for _, sha := range p.chain[1:] {
			delete(candidates, filepath.Join(filepath.Dir(p.dir), sha))
		}
	}
	var errs []error
	for _, p := range all {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !candidates[p.dir] {
			continue
		}
		removed, err := removePristine(p.dir, p.lastUse)
		if err != nil {
			errs = append(errs, err)
		}
		if removed {
			s.Pristine++
		}
	}
	return errors.Join(errs...)
}

// cached is a mirror or pristine checkout the size bound may evict.
type cached struct {
	pristine *pristine
	mirror   string // path, with key, when a mirror
	key      string
	lastUse  time.Time
	size     int64
}

// evict removes the least recently used pristine checkouts and mirrors
// until their disk use fits in MaxBytes. It never evicts what a live
// Workdir holds: its pristine checkout (nor one that is layered under a
// kept one), nor a mirror while any Workdir of it lives or a Fetch runs.
func (c *Cache) evict(ctx context.Context, inUse map[string]bool, s *Swept) error {
	if c.MaxBytes <= 0 {
		return nil
	}
	all := c.pristines()
	var items []cached
	var total int64
	for i := range all {
		size, err := diskUse(all[i].dir)
		if err != nil {
			return err
		}
		items = append(items, cached{pristine: &all[i], lastUse: all[i].lastUse, size: size})
		total += size
	}
	mirrorRoot := filepath.Join(c.Dir, "mirrors")
	filepath.WalkDir(mirrorRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || !strings.HasSuffix(p, ".git") {
			return nil
		}
		info, err := os.Stat(p)
		if err != nil {
			return filepath.SkipDir
		}
		key, _ := filepath.Rel(mirrorRoot, strings.TrimSuffix(p, ".git"))
		size, err := diskUse(p)
		if err == nil {
			items = append(items, cached{mirror: p, key: key, lastUse: info.ModTime(), size: size})
			total += size
		}
		return filepath.SkipDir
	})
	if total <= c.MaxBytes {
		return nil
	}
	slices.SortStableFunc(items, func(a, b cached) int { return a.lastUse.Compare(b.lastUse) })
	gone := map[string]bool{}
	var errs []error
	for _, it := range items {
		if total <= c.MaxBytes {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var removed bool
		var err error
		if p := it.pristine; p != nil {
			if inUse[p.dir] || layeredOn(all, gone, p.dir) {
				continue
			}
			if removed, err = removePristine(p.dir, p.lastUse); removed {
				gone[p.dir] = true
				s.Pristine++
			}
		} else if removed, err = c.removeMirror(it.mirror, it.key, it.lastUse); removed {
			s.Mirrors++
		}
		if err != nil {
			errs = append(errs, err)
		}
		if removed {
			total -= it.size
			s.Evicted += it.size
		}
	}
	if total > c.MaxBytes {
		c.logger().WarnContext(ctx, "workspace: over MIRROR_MAX_BYTES, and the rest is in use", "bytes", total, "max_bytes", c.MaxBytes)
	}
	return errors.Join(errs...)
}

// removeMirror removes the mirror of key unless a Fetch or a Workdir holds
// it or it was used after lastUse. Its pristine checkouts stay: they are
// self-contained, and a cycle fetches before it checks out.
func (c *Cache) removeMirror(mirror, key string, lastUse time.Time) (bool, error) {
	unlockRepo, ok := tryFlockCreate(c.repoLockPath(key))
	if !ok {
		return false, nil
	}
	defer unlockRepo()
	unlockUse, ok := tryFlockCreate(c.useLockPath(key))
	if !ok {
		return false, nil
	}
	defer unlockUse()
	if info, err := os.Stat(mirror); err != nil || !info.ModTime().Equal(lastUse) {
		return false, nil
	}
	if err := os.RemoveAll(mirror); err != nil {
		return false, fmt.Errorf("evict mirror %s: %w", key, err)
	}
	return true, nil
}

// diskUse is the space the files under dir take on disk.
func diskUse(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("disk use of %s: %w", dir, err)
	}
	return n, nil
}
