package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Limits of a layered pristine checkout (see materialiseLayer). Past them a
// commit is materialised in full, which also starts a new, short chain.
const (
	// maxLayerPaths is the most changed files a layer holds: a bigger diff
	// is a rewrite, and a full checkout is then not much slower.
	maxLayerPaths = 2000
	// maxChain is the most layers (the full base included) of one chain.
	maxChain = 32
	// maxLowerLen bounds the lowerdir mount option: all mount options must
	// fit in one page (4096 bytes) with upperdir and workdir.
	maxLowerLen = 3000
)

// errNoLayer says a commit cannot be materialised as a layer; the caller
// materialises it in full.
var errNoLayer = errors.New("no layer")

// pristineDir is the pristine directory of sha, beside the others of key.
func (c *Cache) pristineDir(key, sha string) string {
	return filepath.Join(c.Dir, "pristine", key, sha)
}

// readChain returns the shas whose layers make up the pristine checkout in
// pdir, top first: pdir's own sha first, the full checkout (tree/) last. A
// full pristine checkout has no layers file and is a chain of one.
func readChain(pdir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(pdir, "layers"))
	if errors.Is(err, fs.ErrNotExist) {
		return []string{filepath.Base(pdir)}, nil
	}
	if err != nil {
		return nil, err
	}
	chain := strings.Fields(string(b))
	if len(chain) < 2 || chain[0] != filepath.Base(pdir) {
		return nil, fmt.Errorf("bad layers file in %s", pdir)
	}
	seen := map[string]bool{}
	for _, s := range chain {
		if !hexSHA.MatchString(s) || seen[s] {
			return nil, fmt.Errorf("bad layers file in %s", pdir)
		}
		seen[s] = true
	}
	return chain, nil
}

// lowerDirs are the overlay lower directories of a chain of pristine
// checkouts in keyDir, top first: the layer/ of each, and the base's tree/.
func lowerDirs(keyDir string, chain []string) []string {
	dirs := make([]string, len(chain))
	for i, sha := range chain {
		sub := "layer"
		if i == len(chain)-1 {
			sub = "tree"
		}
		dirs[i] = filepath.Join(keyDir, sha, sub)
	}
	return dirs
}

// lockChain locks the pristine checkouts of chain (in keyDir, top first, in
// that order: a child's lock is always taken before its parent's), checks
// that each is ready and marks it used now, for Prune. Pristine checkouts
// whose lock the caller already holds must not be in chain.
func lockChain(ctx context.Context, keyDir string, chain []string) (unlock func(), err error) {
	var unlocks []func()
	unlock = func() {
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}
	for _, sha := range chain {
		pdir := filepath.Join(keyDir, sha)
		u, err := flock(ctx, pdir+".lock")
		if err != nil {
			unlock()
			return nil, err
		}
		unlocks = append(unlocks, u)
		ready := filepath.Join(pdir, "ready")
		if _, err := os.Stat(ready); err != nil {
			unlock()
			return nil, fmt.Errorf("%w: pristine %s is gone: %v", errNoLayer, sha, err)
		}
		now := time.Now()
		os.Chtimes(ready, now, now)
	}
	return unlock, nil
}

// diffEntry is one line of `git diff-tree -r -t`.
type diffEntry struct {
	oldMode, newMode string
	newSHA           string
	status           byte
	path             string
}

func (e diffEntry) isTree() bool {
	return e.oldMode == "040000" || e.newMode == "040000"
}

// parseDiffTree parses `git diff-tree -z` output without renames.
func parseDiffTree(out []byte) ([]diffEntry, error) {
	f := bytes.Split(bytes.TrimSuffix(out, []byte{0}), []byte{0})
	if len(out) == 0 {
		return nil, nil
	}
	var entries []diffEntry
	for i := 0; i < len(f); i += 2 {
		meta := strings.Fields(strings.TrimPrefix(string(f[i]), ":"))
		if len(meta) != 5 || i+1 >= len(f) || len(meta[4]) == 0 {
			return nil, fmt.Errorf("cannot parse diff-tree output %q", f[i])
		}
		entries = append(entries, diffEntry{
			oldMode: meta[0], newMode: meta[1], newSHA: meta[3],
			status: meta[4][0], path: string(f[i+1]),
		})
	}
	return entries, nil
}

// safeRelPath reports whether p, a path from git, names something inside
// a tree: relative, clean, and not through a .git directory.
func safeRelPath(p string) bool {
	if p == "" || !filepath.IsLocal(p) || filepath.Clean(p) != p || strings.Contains(p, "\\") {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if strings.EqualFold(part, ".git") {
			return false
		}
	}
	return true
}

// materialiseLayer writes the pristine checkout of sha to pdir as a layer
// over the pristine checkout of its first parent, which must be ready: only
// the files that differ from the parent (layer/), overlayfs whiteouts for
// the deleted ones, the chain of layers to mount (layers) and an index for
// the whole tree, refreshed against the mounted chain. It returns an error
// wrapping errNoLayer when the commit is better materialised in full: no
// parent checkout, a type change, a large diff or a long chain.
//
// Prune keeps every pristine checkout that a kept one is layered on.
func (c *Cache) materialiseLayer(ctx context.Context, pdir, mirror, sha string) error {
	start := time.Now()
	mg := gitCmd{dir: mirror, env: []string{"GIT_DIR=" + mirror}}
	out, err := mg.run(ctx, "rev-parse", "--verify", "--quiet", sha+"^")
	if err != nil {
		return fmt.Errorf("%w: no parent", errNoLayer)
	}
	parent := strings.TrimSpace(string(out))
	keyDir := filepath.Dir(pdir)
	ppdir := filepath.Join(keyDir, parent)
	if _, err := os.Stat(filepath.Join(ppdir, "ready")); err != nil {
		return fmt.Errorf("%w: parent not materialised", errNoLayer)
	}
	// Hold the whole parent chain while building on it, so Prune leaves it.
	pchain, err := readChain(ppdir)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoLayer, err)
	}
	if len(pchain)+1 > maxChain {
		return fmt.Errorf("%w: chain of %d layers", errNoLayer, len(pchain))
	}
	unlock, err := lockChain(ctx, keyDir, pchain)
	if err != nil {
		return err
	}
	defer unlock()
	// Re-read under the lock: the parent may have been rebuilt meanwhile.
	if pchain2, err := readChain(ppdir); err != nil || strings.Join(pchain2, " ") != strings.Join(pchain, " ") {
		return fmt.Errorf("%w: parent changed", errNoLayer)
	}
	chain := append([]string{sha}, pchain...)
	if n := len(strings.Join(lowerDirs(keyDir, chain), ":")); n > maxLowerLen {
		return fmt.Errorf("%w: lowerdir option of %d bytes", errNoLayer, n)
	}

	out, err = mg.run(ctx, "diff-tree", "-r", "-t", "--no-renames", "-z", parent, sha)
	if err != nil {
		return err
	}
	entries, err := parseDiffTree(out)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	deletedTree := map[string]bool{}
	var blobs int
	for _, e := range entries {
		if !safeRelPath(e.path) {
			return fmt.Errorf("%w: path %q", errNoLayer, e.path)
		}
		if seen[e.path] || e.status == 'T' {
			return fmt.Errorf("%w: %s changes type", errNoLayer, e.path)
		}
		seen[e.path] = true
		if e.oldMode == "160000" || e.newMode == "160000" {
			return fmt.Errorf("%w: submodule %s", errNoLayer, e.path)
		}
		if e.isTree() {
			if e.status == 'D' {
				deletedTree[e.path] = true
			}
			continue
		}
		if e.status != 'A' && e.status != 'M' && e.status != 'D' {
			return fmt.Errorf("%w: status %c of %s", errNoLayer, e.status, e.path)
		}
		blobs++
	}
	if blobs > maxLayerPaths {
		return fmt.Errorf("%w: %d changed files", errNoLayer, blobs)
	}
	// underDeleted reports whether a parent directory of p is deleted:
	// one whiteout on the topmost deleted directory hides all of it.
	underDeleted := func(p string) bool {
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			if deletedTree[d] {
				return true
			}
		}
		return false
	}

	tmp := pdir + ".tmp"
	if err := removeTmp(tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(pdir); err != nil {
		return err
	}
	layer, mnt := filepath.Join(tmp, "layer"), filepath.Join(tmp, "mnt")
	for _, d := range []string{layer, mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	index := filepath.Join(tmp, "index")
	if err := copyFile(filepath.Join(ppdir, "index"), index); err != nil {
		return err
	}
	// The parent's index, with the changed entries replaced: their stat
	// data is zero until the refresh below.
	var info, paths strings.Builder
	var whiteouts []string
	for _, e := range entries {
		switch {
		case e.isTree():
			if e.status == 'D' && !underDeleted(e.path) {
				whiteouts = append(whiteouts, e.path)
			}
		case e.status == 'D':
			fmt.Fprintf(&info, "0 %s\t%s\x00", strings.Repeat("0", len(e.newSHA)), e.path)
			if !underDeleted(e.path) {
				whiteouts = append(whiteouts, e.path)
			}
		default:
			fmt.Fprintf(&info, "%s %s\t%s\x00", e.newMode, e.newSHA, e.path)
			paths.WriteString(e.path + "\x00")
		}
	}
	g := gitCmd{
		dir: layer,
		env: []string{"GIT_DIR=" + mirror, "GIT_WORK_TREE=" + layer, "GIT_INDEX_FILE=" + index},
	}
	if info.Len() > 0 {
		g.stdin = info.String()
		if _, err := g.run(ctx, "update-index", "-z", "--index-info"); err != nil {
			return err
		}
	}
	if paths.Len() > 0 {
		g.stdin = paths.String()
		if _, err := g.run(ctx, "checkout-index", "-f", "-z", "--stdin"); err != nil {
			return err
		}
	}
	for _, p := range whiteouts {
		if err := whiteout(layer, p); err != nil {
			return err
		}
	}
	if err := c.chown(layer, true); err != nil {
		return fmt.Errorf("chown pristine layer: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "layers"), []byte(strings.Join(chain, "\n")+"\n"), 0o644); err != nil {
		return err
	}

	// Refresh the index against the whole chain, as every Workdir will see
	// it, so the new files' stat data is recorded (and nothing else needs
	// a rehash: unchanged files keep their inode and times in the overlay).
	lowers := append([]string{layer}, lowerDirs(keyDir, pchain)...)
	if err := mountReadOnly(lowers, mnt); err != nil {
		return err
	}
	g.dir = mnt
	g.stdin = ""
	g.env = []string{"GIT_DIR=" + mirror, "GIT_WORK_TREE=" + mnt, "GIT_INDEX_FILE=" + index}
	_, rerr := g.run(ctx, "update-index", "-q", "--refresh")
	if err := unmount(mnt); err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	if err := os.Remove(mnt); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "ready"), nil, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, pdir); err != nil {
		return err
	}
	c.logger().DebugContext(ctx, "workspace: materialised pristine layer", "sha", sha, "parent", parent,
		"files", blobs, "layers", len(chain), "took", time.Since(start))
	return nil
}

// whiteout makes an overlayfs whiteout at p under layer, creating its
// parent directories and refusing to go through anything but directories.
func whiteout(layer, p string) error {
	dir := layer
	parts := strings.Split(p, "/")
	for _, part := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, part)
		info, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if !info.IsDir() {
			return fmt.Errorf("whiteout %s: %s is not a directory", p, dir)
		}
	}
	if err := syscall.Mknod(filepath.Join(layer, p), syscall.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout %s: %w", p, err)
	}
	return nil
}

// mountReadOnly mounts a read-only overlay of lowers (top first, at least
// two) on target.
func mountReadOnly(lowers []string, target string) error {
	for _, p := range lowers {
		if strings.ContainsAny(p, ",:") {
			return fmt.Errorf("overlay: unusable path %q", p)
		}
	}
	opts := "lowerdir=" + strings.Join(lowers, ":")
	if err := syscall.Mount("overlay", target, "overlay", syscall.MS_NODEV|syscall.MS_RDONLY, opts); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	return nil
}

// removeTmp removes a half-built pristine directory, first unmounting the
// overlay a crashed materialiseLayer may have left in it.
func removeTmp(tmp string) error {
	mnt := filepath.Join(tmp, "mnt")
	if mounted, err := isMountPoint(mnt); err != nil {
		return err
	} else if mounted {
		if err := unmount(mnt); err != nil {
			return err
		}
	}
	return os.RemoveAll(tmp)
}
