package workspace

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchShape is the generated repository: 10,000 files and about 100 MB of
// packed history.
var benchShape = struct {
	files, fileSize          int // first commit
	commits, changes, change int // later commits: files changed each, bytes each
}{10000, 3000, 100, 100, 10000}

// benchRepo returns a bare repository of benchShape and its head, generated
// once with git fast-import and cached under os.TempDir keyed by the shape.
func benchRepo(b *testing.B) (dir, head string) {
	b.Helper()
	s := benchShape
	dir = filepath.Join(os.TempDir(), fmt.Sprintf("specloop-bench-f%d-s%d-c%d-x%d-%d-v1.git", s.files, s.fileSize, s.commits, s.changes, s.change))
	if _, err := os.Stat(filepath.Join(dir, "generated")); err != nil {
		start := time.Now()
		require.NoError(b, os.RemoveAll(dir))
		gitT(b, os.TempDir(), "init", "-q", "--bare", dir)
		cmd := exec.Command("git", "fast-import", "--quiet")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_DIR="+dir)
		in, err := cmd.StdinPipe()
		require.NoError(b, err)
		require.NoError(b, cmd.Start())
		writeHistory(bufio.NewWriterSize(in, 1<<20))
		require.NoError(b, in.Close())
		require.NoError(b, cmd.Wait())
		require.NoError(b, os.WriteFile(filepath.Join(dir, "generated"), nil, 0o644))
		b.Logf("generated %s in %v", dir, time.Since(start))
	}
	return dir, gitT(b, dir, "rev-parse", "refs/heads/main")
}

// writeHistory writes the fast-import stream of benchShape. Content is
// random base64, so it compresses about as well as source code does not:
// the pack size tracks the raw size.
func writeHistory(w *bufio.Writer) {
	s := benchShape
	rng := rand.New(rand.NewPCG(1, 2))
	blob := func(n int) string {
		raw := make([]byte, n*3/4)
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(raw)
		var sb strings.Builder
		for len(enc) > 76 {
			sb.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		sb.WriteString(enc + "\n")
		return sb.String()
	}
	path := func(i int) string { return fmt.Sprintf("pkg%03d/file%05d.txt", i%100, i) }
	when := int64(1700000000)
	for c := 0; c <= s.commits; c++ {
		fmt.Fprintf(w, "commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\ndata 8\ncommit%d\n", when+int64(c), c%10)
		if c == 0 {
			for i := range s.files {
				data := blob(s.fileSize)
				fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", path(i), len(data), data)
			}
			continue
		}
		for range s.changes {
			data := blob(s.change)
			fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", path(rng.IntN(s.files)), len(data), data)
		}
	}
	w.Flush()
}

// benchCache returns a Cache with the bench repository fetched.
func benchCache(b *testing.B, noOverlay bool) (c *Cache, remoteURL, head string) {
	b.Helper()
	remoteURL, head = benchRepo(b)
	c = &Cache{Dir: b.TempDir(), NoOverlay: noOverlay}
	_, err := c.Fetch(b.Context(), remoteURL, "")
	require.NoError(b, err)
	b.Cleanup(func() { c.Prune(b.Context(), -time.Hour) })
	return c, remoteURL, head
}

// BenchmarkCheckoutWarm prepares a Workdir of a commit that was checked out
// before: the cycle retry or queue case. It also reports what the first
// `git status` in the Workdir costs, which a stale index would inflate.
func BenchmarkCheckoutWarm(b *testing.B) {
	c, url, head := benchCache(b, false)
	w, err := c.Checkout(b.Context(), url, head)
	require.NoError(b, err)
	require.NoError(b, w.Close())
	var status time.Duration
	b.ResetTimer()
	for b.Loop() {
		w, err := c.Checkout(b.Context(), url, head)
		require.NoError(b, err)
		b.StopTimer()
		start := time.Now()
		gitT(b, w.Path, "status", "--porcelain")
		status += time.Since(start)
		require.NoError(b, w.Close())
		b.StartTimer()
	}
	b.ReportMetric(float64(status.Nanoseconds())/float64(b.N), "status-ns/op")
}

// BenchmarkCheckoutCold prepares a Workdir of a commit the cache has
// fetched but never checked out: the first cycle on a new head.
func BenchmarkCheckoutCold(b *testing.B) {
	c, url, head := benchCache(b, false)
	key := mustKey(b, url)
	for b.Loop() {
		b.StopTimer()
		require.NoError(b, os.RemoveAll(filepath.Join(c.Dir, "pristine", key, head)))
		b.StartTimer()
		w, err := c.Checkout(b.Context(), url, head)
		require.NoError(b, err)
		b.StopTimer()
		require.NoError(b, w.Close())
		b.StartTimer()
	}
}

// BenchmarkCheckoutChild prepares a Workdir of a new commit whose parent
// was checked out before, changing 3 files: the next cycle of a run, which
// starts from what the previous one pushed. Compare with
// BenchmarkCheckoutCold, which materialises the whole tree.
func BenchmarkCheckoutChild(b *testing.B) {
	c, url, head := benchCache(b, false)
	key := mustKey(b, url)
	w, err := c.Checkout(b.Context(), url, head)
	require.NoError(b, err)
	require.NoError(b, w.Close())
	child := benchChild(b, c.mirrorPath(key), head, 3)
	var status time.Duration
	for b.Loop() {
		b.StopTimer()
		require.NoError(b, os.RemoveAll(c.pristineDir(key, child)))
		b.StartTimer()
		w, err := c.Checkout(b.Context(), url, child)
		require.NoError(b, err)
		b.StopTimer()
		start := time.Now()
		require.Empty(b, gitT(b, w.Path, "status", "--porcelain"))
		status += time.Since(start)
		require.NoError(b, w.Close())
		b.StartTimer()
	}
	chain, err := readChain(c.pristineDir(key, child))
	require.NoError(b, err)
	require.Len(b, chain, 2, "the child must be a layer")
	b.ReportMetric(float64(status.Nanoseconds())/float64(b.N), "status-ns/op")
}

// benchChild writes to mirror a child commit of parent that rewrites n of
// its files, and returns its sha.
func benchChild(b *testing.B, mirror, parent string, n int) string {
	b.Helper()
	index := filepath.Join(b.TempDir(), "index")
	git := func(stdin string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = mirror
		cmd.Env = append(os.Environ(), "GIT_DIR="+mirror, "GIT_INDEX_FILE="+index,
			"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.com",
			"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.com")
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		require.NoError(b, err, "git %v", args)
		return strings.TrimSpace(string(out))
	}
	git("", "read-tree", parent)
	for i := range n {
		blob := git(fmt.Sprintf("child %d of %s\n", i, parent), "hash-object", "-w", "--stdin")
		git("", "update-index", "--cacheinfo", fmt.Sprintf("100644,%s,pkg%03d/file%05d.txt", blob, i%100, i))
	}
	return git("child\n", "commit-tree", "-p", parent, git("", "write-tree"))
}

// BenchmarkCheckoutFallback is Checkout without overlay mounts.
func BenchmarkCheckoutFallback(b *testing.B) {
	c, url, head := benchCache(b, true)
	for b.Loop() {
		w, err := c.Checkout(b.Context(), url, head)
		require.NoError(b, err)
		b.StopTimer()
		require.NoError(b, w.Close())
		b.StartTimer()
	}
}

// BenchmarkWorktreeAddFloor is the cost to beat: `git worktree add` of the
// same commit from a local clone.
func BenchmarkWorktreeAddFloor(b *testing.B) {
	origin, head := benchRepo(b)
	clone := filepath.Join(b.TempDir(), "clone")
	gitT(b, os.TempDir(), "clone", "-q", "--no-checkout", origin, clone)
	wt := filepath.Join(b.TempDir(), "wt")
	for b.Loop() {
		gitT(b, clone, "worktree", "add", "-q", "--detach", wt, head)
		b.StopTimer()
		gitT(b, clone, "worktree", "remove", "--force", wt)
		b.StartTimer()
	}
}
