package workspace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// GitView is a private copy of a Workdir's git directory for one sandboxed
// command, so that git works inside the sandbox (status, diff, log, add,
// commit) while the worker's own git directory stays out of its reach: a
// git directory the agent could write would let it plant a hook or a
// core.fsmonitor command that the worker's next git call runs outside the
// sandbox. Mount Dir read-write at At (the path the tree's .git file
// names) and every Objects directory read-only at its own path; then
// Close. What the command commits stays in the copy: specloop publishes
// the tree, never the agent's commits.
type GitView struct {
	// Dir is the copy on the host.
	Dir string
	// At is where the command must see it: the git directory the working
	// tree's .git file points at.
	At string
	// Objects are the object directories the copy borrows (the mirror's),
	// to be mounted read-only at the same paths.
	Objects []string
}

// GitView makes a fresh GitView of w: HEAD at Base, w's index (so status
// is quick and exact), and an identity for commits made inside.
func (w *Workdir) GitView() (_ *GitView, err error) {
	dir, err := os.MkdirTemp(w.root, "gitview-")
	if err != nil {
		return nil, fmt.Errorf("git view: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
			err = fmt.Errorf("git view: %w", err)
		}
	}()
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	alt, err := os.ReadFile(filepath.Join(w.gitDir, "objects", "info", "alternates"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var objects []string
	sc := bufio.NewScanner(bytes.NewReader(alt))
	for sc.Scan() {
		if p := strings.TrimSpace(sc.Text()); p != "" && !strings.HasPrefix(p, "#") && filepath.IsAbs(p) {
			objects = append(objects, p)
		}
	}
	for _, d := range []string{"objects/info", "objects/pack", "refs/heads", "refs/tags"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	head, err := w.head0()
	if err != nil {
		return nil, err
	}
	files := map[string]string{
		"HEAD":                    head + "\n",
		"objects/info/alternates": strings.Join(objects, "\n") + "\n",
		// An identity so that `git commit` works inside; hooks are off
		// because nothing of the worker's should run there either.
		"config": "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n" +
			"\tlogallrefupdates = false\n\ttrustctime = false\n\thooksPath = /dev/null\n[gc]\n\tauto = 0\n" +
			"[user]\n\tname = specloop agent\n\temail = agent@specloop.invalid\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	if err := copyFile(filepath.Join(w.gitDir, "index"), filepath.Join(dir, "index")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return &GitView{Dir: dir, At: w.gitDir, Objects: objects}, nil
}

// head0 reads HEAD of w's git directory without running git: the sha the
// worker's git points at (Base, or the last Commit).
func (w *Workdir) head0() (string, error) {
	b, err := os.ReadFile(filepath.Join(w.gitDir, "HEAD"))
	if err != nil {
		return "", err
	}
	head := strings.TrimSpace(string(b))
	if ref, ok := strings.CutPrefix(head, "ref: "); ok {
		if b, err := os.ReadFile(filepath.Join(w.gitDir, filepath.FromSlash(ref))); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
		return w.Base, nil
	}
	return head, nil
}

// Close removes the copy.
func (v *GitView) Close() error { return os.RemoveAll(v.Dir) }
