package sandbox

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The change comes back from an untrusted pod: names that climb out of
// the working copy and symlinks that point out of it write nothing
// outside, unchanged files keep their inode (git's index stays valid),
// and what the stream lacks is removed.
func TestReadTreesStaysInside(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir := filepath.Join(base, "wc")
	outside := filepath.Join(base, "outside")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.MkdirAll(outside, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "same.txt"), []byte("same\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "changed.txt"), []byte("old\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "deleted.txt"), []byte("x\n"), 0o644))
	before, err := os.Stat(filepath.Join(dir, "same.txt"))
	require.NoError(t, err)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.ModTime = time.Unix(1700000000, 0)
		require.NoError(t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	d := "wc/" // the tree's dst below /, as tar -C / writes it
	add(&tar.Header{Name: d + "same.txt", Typeflag: tar.TypeReg}, "same\n")
	add(&tar.Header{Name: d + "changed.txt", Typeflag: tar.TypeReg}, "new!\n")
	add(&tar.Header{Name: d + "sub/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: d + "new.sh", Typeflag: tar.TypeReg, Mode: 0o755}, "#!/bin/sh\n")
	add(&tar.Header{Name: d + "../outside/climbed.txt", Typeflag: tar.TypeReg}, "no\n")
	add(&tar.Header{Name: d + "escape", Typeflag: tar.TypeSymlink, Linkname: outside}, "")
	add(&tar.Header{Name: d + "escape/through-link.txt", Typeflag: tar.TypeReg}, "no\n")
	require.NoError(t, tw.Close())

	err = readTrees(&buf, []tree{{src: dir, dst: "/wc", writable: true}})
	require.Error(t, err, "a write through a symlink must fail")

	got, err := os.ReadFile(filepath.Join(dir, "changed.txt"))
	require.NoError(t, err)
	require.Equal(t, "new!\n", string(got))
	after, err := os.Stat(filepath.Join(dir, "same.txt"))
	require.NoError(t, err)
	require.True(t, os.SameFile(before, after), "an unchanged file was rewritten")
	fi, err := os.Stat(filepath.Join(dir, "new.sh"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	require.Empty(t, entries, "something was written outside the working copy")
}

func TestReadTreesRemovesWhatIsGone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "deleted.txt"), []byte("x\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kept.txt"), []byte("k\n"), 0o644))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "w/kept.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2}))
	_, err := tw.Write([]byte("k\n"))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, readTrees(&buf, []tree{{src: dir, dst: "/w", writable: true}}))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "kept.txt", entries[0].Name())
}

func TestKubeMounts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []tree
		dirs []string
		kept int
	}{
		{"working copy under /tmp needs no mount", []tree{{src: "/tmp/a/wc", dst: "/tmp/a/wc", writable: true}}, []string{"/tmp"}, 1},
		{"working copy in a system directory is the mount", []tree{{src: "/wc", dst: "/wc", writable: true}}, []string{"/tmp", "/wc"}, 1},
		{"a tool file beside the working copy", []tree{
			{src: "/var/lib/m/wc", dst: "/var/lib/m/wc", writable: true},
			{src: "/var/lib/m/bin/specloop", dst: "/var/lib/m/bin/specloop", file: true},
		}, []string{"/tmp", "/var/lib/m"}, 2},
		{"a file in a system directory stays the image's", []tree{
			{src: "/tmp/wc", dst: "/tmp/wc", writable: true},
			{src: "/usr/bin/git", dst: "/usr/bin/git", file: true},
		}, []string{"/tmp"}, 1},
		{"a file under /tmp needs no mount", []tree{{src: "/tmp/x/tool", dst: "/tmp/x/tool", file: true}}, []string{"/tmp"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dirs, kept := mounts(tt.in)
			require.Equal(t, tt.dirs, dirs)
			require.Len(t, kept, tt.kept)
		})
	}
}

func TestLabelValue(t *testing.T) {
	t.Parallel()
	require.Equal(t, "host-a_17_beef_job-9", labelValue("host-a/17/beef/job-9"))
	long := labelValue("/" + string(bytes.Repeat([]byte("x"), 100)) + "/job-1")
	require.LessOrEqual(t, len(long), 63)
	require.Equal(t, "job-1", long[len(long)-5:])
}
