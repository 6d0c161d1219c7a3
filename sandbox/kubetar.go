package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The working copy travels as tar streams over exec: in before the
// command, out after it. Exec needs nothing but the pod's own tar (no
// volume the worker shares, no network path from the pod to the worker),
// and the stream starts at once. Coming back, a file whose bytes did not
// change is left alone on the worker, so its inode, times and git's index
// entry stay valid and the worker's next git status reads only what the
// command touched.

// copyIn writes ts into the pod: each directory tree's contents below its
// mount, each file at its path.
func (d *kubeDriver) copyIn(ctx context.Context, name string, ts []tree) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTrees(pw, ts, d.cfg.UID)) }()
	var stderr bytes.Buffer
	code, err := d.exec(ctx, name, []string{"tar", "-x", "-f", "-", "-C", "/"}, pr, io.Discard, &stderr)
	pr.CloseWithError(errors.New("exec ended"))
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("tar -x exited %d: %s", code, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func writeTrees(w io.Writer, ts []tree, uid int64) error {
	tw := tar.NewWriter(w)
	for _, t := range ts {
		if t.sock {
			continue
		}
		if t.data != nil {
			h := &tar.Header{Name: strings.TrimPrefix(t.dst, "/"), Typeflag: tar.TypeReg, Mode: 0o600,
				Size: int64(len(t.data)), Uid: int(uid), Gid: int(uid), ModTime: time.Now().Truncate(time.Second)}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := tw.Write(t.data); err != nil {
				return err
			}
			continue
		}
		if t.file {
			fi, err := os.Stat(t.src)
			if err != nil {
				return fmt.Errorf("reading %s: %w", t.src, err)
			}
			if err := writeEntry(tw, t.src, strings.TrimPrefix(t.dst, "/"), fi, uid); err != nil {
				return err
			}
			continue
		}
		err := filepath.WalkDir(t.src, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(t.src, p)
			if err != nil {
				return err
			}
			fi, err := de.Info()
			if err != nil {
				return err
			}
			// The tree's own directory too: tar makes it the sandbox
			// user's where it is not a mount.
			return writeEntry(tw, p, strings.TrimPrefix(path.Join(t.dst, filepath.ToSlash(rel)), "/"), fi, uid)
		})
		if err != nil {
			return fmt.Errorf("reading %s: %w", t.src, err)
		}
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, src, name string, fi fs.FileInfo, uid int64) error {
	link := ""
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		l, err := os.Readlink(src)
		if err != nil {
			return err
		}
		link = l
	case fi.IsDir(), fi.Mode().IsRegular():
	default:
		return nil // sockets, devices, pipes do not travel
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = name
	if fi.IsDir() {
		h.Name += "/"
	}
	h.Uid, h.Gid, h.Uname, h.Gname = int(uid), int(uid), "", ""
	// USTAR where the name fits (busybox reads its prefix field), PAX
	// otherwise; no atime or ctime, which would force PAX everywhere.
	h.Format = tar.FormatUnknown
	h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
	h.ModTime = h.ModTime.Truncate(time.Second)
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

// copyOut brings the writable trees of ts back from the pod.
func (d *kubeDriver) copyOut(ctx context.Context, name string, ts []tree) error {
	var want []tree
	args := []string{"tar", "-c", "-f", "-", "-C", "/"}
	for _, t := range ts {
		if t.writable && !t.file {
			want = append(want, t)
			args = append(args, strings.TrimPrefix(t.dst, "/"))
		}
	}
	if len(want) == 0 {
		return nil
	}
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		code, err := d.exec(ctx, name, args, nil, pw, &stderr)
		if err == nil && code != 0 {
			err = fmt.Errorf("tar -c exited %d: %s", code, strings.TrimSpace(stderr.String()))
		}
		pw.CloseWithError(err)
		done <- err
	}()
	err := readTrees(pr, want)
	pr.CloseWithError(errors.New("reader done"))
	if eerr := <-done; eerr != nil {
		return eerr
	}
	return err
}

// readTrees applies a tar stream of ts's dsts to their srcs: files whose
// bytes changed are replaced, new ones made, and what the stream does not
// hold is removed. The stream comes from an untrusted sandbox: every write
// goes through an os.Root, so no name or symlink reaches outside a tree.
func readTrees(r io.Reader, ts []tree) error {
	type state struct {
		root *os.Root
		seen map[string]bool
		t    tree
	}
	var sts []*state
	for _, t := range ts {
		root, err := os.OpenRoot(t.src)
		if err != nil {
			return fmt.Errorf("opening %s: %w", t.src, err)
		}
		defer root.Close()
		sts = append(sts, &state{root: root, seen: map[string]bool{}, t: t})
	}
	// Longest dst first, so a nested tree wins.
	sort.Slice(sts, func(i, j int) bool { return len(sts[i].t.dst) > len(sts[j].t.dst) })
	tr := tar.NewReader(r)
	cr := &compareReader{r: tr}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the sandbox's tar stream: %w", err)
		}
		name := "/" + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		var st *state
		for _, s := range sts {
			if under(name, s.t.dst) {
				st = s
				break
			}
		}
		if st == nil {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(name, st.t.dst), "/")
		if rel == "" {
			continue
		}
		if err := applyEntry(st.root, rel, h, cr); err != nil {
			return fmt.Errorf("writing %s: %w", filepath.Join(st.t.src, rel), err)
		}
		st.seen[rel] = true
	}
	for _, st := range sts {
		if err := removeUnseen(st.root, st.t.src, st.seen); err != nil {
			return err
		}
	}
	return nil
}

func applyEntry(root *os.Root, rel string, h *tar.Header, r io.Reader) error {
	mode := fs.FileMode(h.Mode) & fs.ModePerm
	cur, statErr := root.Lstat(rel)
	switch h.Typeflag {
	case tar.TypeDir:
		if statErr == nil && cur.IsDir() {
			if cur.Mode().Perm() != mode {
				return root.Chmod(rel, mode|0o700)
			}
			return nil
		}
		if statErr == nil {
			if err := root.RemoveAll(rel); err != nil {
				return err
			}
		}
		return root.Mkdir(rel, mode|0o700)
	case tar.TypeSymlink:
		if statErr == nil && cur.Mode()&fs.ModeSymlink != 0 {
			if l, err := root.Readlink(rel); err == nil && l == h.Linkname {
				return nil
			}
		}
		if statErr == nil {
			if err := root.RemoveAll(rel); err != nil {
				return err
			}
		}
		return root.Symlink(h.Linkname, rel)
	case tar.TypeReg, tar.TypeRegA:
		if statErr == nil && cur.Mode().IsRegular() && cur.Size() == h.Size && h.Size <= maxCompare {
			same, err := sameBytes(root, rel, r, h.Size)
			if err != nil {
				return err
			}
			if same {
				if cur.Mode().Perm() != mode {
					return root.Chmod(rel, mode)
				}
				return nil
			}
			// sameBytes consumed r: the bytes are in its buffer.
			return writeFile(root, rel, bytes.NewReader(lastCompared(r)), mode, h)
		}
		if statErr == nil {
			if err := root.RemoveAll(rel); err != nil {
				return err
			}
		}
		return writeFile(root, rel, r, mode, h)
	default:
		return nil
	}
}

// maxCompare is the largest file compared in memory; a bigger one is
// rewritten.
const maxCompare = 16 << 20

// sameBytes compares the next size bytes of r with the file rel; the bytes
// read from r stay available through lastCompared.
func sameBytes(root *os.Root, rel string, r io.Reader, size int64) (bool, error) {
	buf, ok := r.(*compareReader)
	if !ok {
		return false, errors.New("internal: sameBytes needs a compareReader")
	}
	buf.last = buf.last[:0]
	data, err := io.ReadAll(io.LimitReader(buf.r, size))
	if err != nil {
		return false, err
	}
	buf.last = data
	f, err := root.Open(rel)
	if err != nil {
		return false, err
	}
	defer f.Close()
	have := make([]byte, len(data)+1)
	n, err := io.ReadFull(f, have)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, err
	}
	return n == len(data) && bytes.Equal(have[:n], data), nil
}

// compareReader wraps the tar reader so that sameBytes can hand the bytes
// it read on to writeFile.
type compareReader struct {
	r    io.Reader
	last []byte
}

func (c *compareReader) Read(p []byte) (int, error) { return c.r.Read(p) }

func lastCompared(r io.Reader) []byte {
	if c, ok := r.(*compareReader); ok {
		return c.last
	}
	return nil
}

func writeFile(root *os.Root, rel string, r io.Reader, mode fs.FileMode, h *tar.Header) error {
	tmp := rel + ".specloop-in"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		_ = root.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		_ = root.Remove(tmp)
		return err
	}
	_ = root.Chmod(tmp, mode)
	_ = root.Chtimes(tmp, h.ModTime, h.ModTime)
	return root.Rename(tmp, rel)
}

// removeUnseen removes what is below src and not in seen: what the command
// deleted.
func removeUnseen(root *os.Root, src string, seen map[string]bool) error {
	var gone []string
	err := filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == src {
			return nil
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if !seen[filepath.ToSlash(rel)] {
			gone = append(gone, rel)
			if de.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing %s: %w", src, err)
	}
	for _, rel := range gone {
		if err := root.RemoveAll(rel); err != nil {
			return fmt.Errorf("removing %s: %w", filepath.Join(src, rel), err)
		}
	}
	return nil
}
