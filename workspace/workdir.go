package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ErrNothingToCommit is returned by Commit when the tree equals HEAD.
var ErrNothingToCommit = errors.New("nothing to commit")

// Workdir is one cycle's private working copy.
type Workdir struct {
	// Path is the root of the working tree: a normal git working tree.
	Path string
	// Base is the full sha that was checked out; Changes and Diff compare
	// against it even after Commit.
	Base string

	root    string // everything of this Workdir lives under root
	gitDir  string
	mounted bool
	unlock  func()
	// unlockUse releases the repo's shared use lock (see Checkout).
	unlockUse func()
	// deadlines bound Push; Checkout copies them from the Cache.
	deadlines Deadlines

	closeOnce sync.Once
	closeErr  error
}

// Close unmounts and removes the working copy and its git directory. It is
// safe to call more than once and on a partly built Workdir.
func (w *Workdir) Close() error {
	w.closeOnce.Do(func() {
		w.closeErr = removeWorkRoot(w.root)
		if w.unlock != nil {
			w.unlock()
		}
		if w.unlockUse != nil {
			w.unlockUse()
		}
		if w.closeErr != nil {
			w.closeErr = fmt.Errorf("close workdir: %w", w.closeErr)
		}
	})
	return w.closeErr
}

// git runs git on this Workdir, naming the git directory and work tree
// explicitly so that nothing in the tree (a forged .git file) can redirect it.
func (w *Workdir) git(ctx context.Context, args ...string) ([]byte, error) {
	return w.gitEnv(ctx, nil, args...)
}

func (w *Workdir) gitEnv(ctx context.Context, env []string, args ...string) ([]byte, error) {
	g := gitCmd{dir: w.Path, env: append([]string{"GIT_DIR=" + w.gitDir, "GIT_WORK_TREE=" + w.Path}, env...)}
	return g.run(ctx, args...)
}

// withFullIndex runs fn with GIT_INDEX_FILE set to a scratch copy of the
// index holding every change in the tree, untracked files included, so
// that reading the changes leaves the real index alone.
func (w *Workdir) withFullIndex(ctx context.Context, fn func(env []string) error) error {
	tmp := filepath.Join(w.root, "index.scratch")
	defer os.Remove(tmp)
	index := filepath.Join(w.gitDir, "index")
	if err := copyFile(index, tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	env := []string{"GIT_INDEX_FILE=" + tmp}
	if _, err := w.gitEnv(ctx, env, "add", "--all", "--", "."); err != nil {
		return err
	}
	return fn(env)
}

// Change is one file that differs from Base.
type Change struct {
	Path    string
	Status  byte // 'A' added, 'M' modified (content, mode or type), 'D' deleted
	Added   int  // lines; 0 for binary files
	Deleted int
	Binary  bool
}

// Changes lists the files that differ from Base, untracked files included
// and ignored files excluded, sorted by path. Renames appear as a deletion
// and an addition.
func (w *Workdir) Changes(ctx context.Context) ([]Change, error) {
	var changes []Change
	err := w.withFullIndex(ctx, func(env []string) error {
		status, err := w.gitEnv(ctx, env, "diff", "--cached", "--no-renames", "--name-status", "-z", w.Base)
		if err != nil {
			return err
		}
		num, err := w.gitEnv(ctx, env, "diff", "--cached", "--no-renames", "--numstat", "-z", w.Base)
		if err != nil {
			return err
		}
		// name-status -z: "M\0path\0"; numstat -z: "added\tdeleted\tpath\0".
		f := bytes.Split(bytes.TrimSuffix(status, []byte{0}), []byte{0})
		byPath := map[string]int{}
		for i := 0; i+1 < len(f); i += 2 {
			st := f[i][0]
			if st != 'A' && st != 'D' {
				st = 'M'
			}
			byPath[string(f[i+1])] = len(changes)
			changes = append(changes, Change{Path: string(f[i+1]), Status: st})
		}
		for _, rec := range bytes.Split(bytes.TrimSuffix(num, []byte{0}), []byte{0}) {
			parts := strings.SplitN(string(rec), "\t", 3)
			if len(parts) != 3 {
				continue
			}
			i, ok := byPath[parts[2]]
			if !ok {
				continue
			}
			if parts[0] == "-" {
				changes[i].Binary = true
				continue
			}
			changes[i].Added, _ = strconv.Atoi(parts[0])
			changes[i].Deleted, _ = strconv.Atoi(parts[1])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	return changes, nil
}

// Diff returns the unified patch from Base to the tree, untracked files
// included and ignored files excluded. Binary files are included in git's
// binary patch format, so the patch applies with `git apply`.
func (w *Workdir) Diff(ctx context.Context) ([]byte, error) {
	var patch []byte
	err := w.withFullIndex(ctx, func(env []string) error {
		var err error
		patch, err = w.gitEnv(ctx, env, "diff", "--cached", "--no-renames", "--binary", "--no-color", "--no-ext-diff", w.Base)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	return patch, nil
}

// Reset discards changes to paths (files or directories, relative to
// Path), making them exactly as in Base: edits are undone, deleted files
// come back, files not in Base are removed. With no paths it resets the
// whole tree, ignored files included. The index is reset too.
func (w *Workdir) Reset(ctx context.Context, paths ...string) error {
	if len(paths) == 0 {
		if _, err := w.git(ctx, "reset", "--quiet", "--hard", w.Base); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		if _, err := w.git(ctx, "clean", "-ffdxq"); err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		return nil
	}
	clean := make([]string, len(paths))
	for i, p := range paths {
		c, err := w.rel(p)
		if err != nil {
			return fmt.Errorf("reset: %w", err)
		}
		clean[i] = c
	}
	if err := w.reset(ctx, clean); err != nil {
		return fmt.Errorf("reset %s: %w", strings.Join(clean, " "), err)
	}
	return nil
}

func (w *Workdir) reset(ctx context.Context, paths []string) error {
	specs := make([]string, len(paths))
	for i, p := range paths {
		specs[i] = ":(literal)" + p
	}
	inBase, err := w.git(ctx, append([]string{"ls-tree", "--name-only", "-z", w.Base, "--"}, paths...)...)
	if err != nil {
		return err
	}
	if _, err := w.git(ctx, append([]string{"rm", "-r", "-q", "--cached", "--ignore-unmatch", "--"}, specs...)...); err != nil {
		return err
	}
	root, err := os.OpenRoot(w.Path)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, p := range paths {
		// os.Root refuses to follow a symlink out of the tree, so a link
		// planted by the agent cannot make this delete something else.
		if err := removeNoFollow(root, p); err != nil {
			return err
		}
	}
	if len(bytes.TrimSpace(inBase)) == 0 {
		return nil
	}
	_, err = w.git(ctx, append([]string{"checkout", "--quiet", w.Base, "--"}, specs...)...)
	return err
}

// removeNoFollow removes p under root. If a parent of p is a symlink, it
// removes the symlink instead: everything below it is gone from the tree's
// point of view, and what it points to is none of ours.
func removeNoFollow(root *os.Root, p string) error {
	parts := strings.Split(p, "/")
	for i := 1; i < len(parts); i++ {
		parent := strings.Join(parts[:i], "/")
		info, err := root.Lstat(parent)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return root.Remove(parent)
		}
	}
	return root.RemoveAll(p)
}

// rel validates a path relative to the tree and cleans it.
func (w *Workdir) rel(p string) (string, error) {
	c := filepath.Clean(filepath.FromSlash(p))
	if !filepath.IsLocal(c) || c == ".git" || strings.HasPrefix(c, ".git"+string(filepath.Separator)) {
		return "", fmt.Errorf("path %q is outside the working tree", p)
	}
	return filepath.ToSlash(c), nil
}

// Signature names a commit author.
type Signature struct {
	Name  string
	Email string
}

// Commit records every change in the tree (untracked files included,
// ignored files excluded) as a commit on top of HEAD, authored and
// committed by author, and returns its sha. HEAD moves to it; Base does
// not. It returns ErrNothingToCommit when there is nothing to record.
func (w *Workdir) Commit(ctx context.Context, msg string, author Signature) (sha string, err error) {
	if author.Name == "" || author.Email == "" {
		return "", errors.New("commit: author name and email are required")
	}
	if _, err := w.git(ctx, "add", "--all", "--", "."); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	if _, err := w.git(ctx, "diff", "--cached", "--quiet", "HEAD"); err == nil {
		return "", ErrNothingToCommit
	}
	env := []string{
		"GIT_AUTHOR_NAME=" + author.Name, "GIT_AUTHOR_EMAIL=" + author.Email,
		"GIT_COMMITTER_NAME=" + author.Name, "GIT_COMMITTER_EMAIL=" + author.Email,
	}
	g := gitCmd{dir: w.Path, env: append([]string{"GIT_DIR=" + w.gitDir, "GIT_WORK_TREE=" + w.Path}, env...), stdin: msg}
	if _, err := g.run(ctx, "commit", "--quiet", "--no-verify", "--no-gpg-sign", "--cleanup=verbatim", "--allow-empty-message", "-F", "-"); err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	return w.head(ctx)
}

func (w *Workdir) head(ctx context.Context) (string, error) {
	out, err := w.git(ctx, "rev-parse", "--verify", "HEAD")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// ReadFile reads a file of the tree. path is relative to Path and may not
// leave the tree, through ".." or a symlink.
func (w *Workdir) ReadFile(path string) ([]byte, error) {
	p, err := w.rel(path)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(w.Path)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.ReadFile(p)
}

// WriteFile writes a file of the tree, creating parent directories. path
// is relative to Path and may not leave the tree. An existing file keeps
// its permissions.
func (w *Workdir) WriteFile(path string, data []byte) error {
	p, err := w.rel(path)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(w.Path)
	if err != nil {
		return err
	}
	defer root.Close()
	if dir := filepath.Dir(p); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	mode := fs.FileMode(0o644)
	if info, err := root.Lstat(p); err == nil && info.Mode().IsRegular() {
		mode = info.Mode().Perm()
	}
	return root.WriteFile(p, data, mode)
}
