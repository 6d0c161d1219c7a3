package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/sandbox"
)

// benchDrivers are bwrap and, with a cluster (KUBECONFIG), kubernetes:
// the same benchmark side by side on the same machine.
func benchDrivers(b *testing.B) map[string]sandbox.Driver {
	ds := map[string]sandbox.Driver{}
	d, err := sandbox.New("bwrap", nil)
	require.NoError(b, err)
	ds["bwrap"] = d
	if os.Getenv("KUBECONFIG") != "" {
		d, err := sandbox.New("kubernetes", nil)
		require.NoError(b, err)
		ds["kubernetes"] = d
	}
	return ds
}

// firstByte records when the first output arrives.
type firstByte struct {
	once sync.Once
	at   time.Time
}

func (f *firstByte) Write(p []byte) (int, error) {
	f.once.Do(func() { f.at = time.Now() })
	return len(p), nil
}

// BenchmarkSandboxFirstByte is sandbox start to the command's first byte
// of output (the image present), and the whole Run of that command.
func BenchmarkSandboxFirstByte(b *testing.B) {
	for name, d := range benchDrivers(b) {
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			require.NoError(b, os.Chmod(filepath.Dir(dir), 0o711))
			var first, total time.Duration
			for b.Loop() {
				fb := &firstByte{}
				start := time.Now()
				res, err := d.Run(context.Background(), sandbox.Spec{Dir: dir, Shell: "echo hello", Stdout: fb, Stdin: nil, Timeout: time.Minute})
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("%v %d %s", err, res.ExitCode, res.Output)
				}
				first += fb.at.Sub(start)
				total += time.Since(start)
			}
			b.ReportMetric(float64(first.Milliseconds())/float64(b.N), "first-byte-ms")
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "run-ms")
		})
	}
}

// benchWorkingCopy is a git working copy of 10,000 files of 3,000 bytes
// (the shape of bench/workspace's repository), made once per process.
func benchWorkingCopy(b *testing.B) string {
	dir := filepath.Join(os.TempDir(), "specloop-bench-wc-10000")
	if _, err := os.Stat(filepath.Join(dir, ".git", "bench-done")); err == nil {
		return dir
	}
	require.NoError(b, os.RemoveAll(dir))
	blob := make([]byte, 3000)
	for i := range blob {
		blob[i] = 'a' + byte(i%26)
	}
	for i := range 10000 {
		p := filepath.Join(dir, fmt.Sprintf("pkg%03d/file%05d.txt", i%100, i))
		require.NoError(b, os.MkdirAll(filepath.Dir(p), 0o755))
		copy(blob, fmt.Sprintf("%08d", i))
		require.NoError(b, os.WriteFile(p, blob, 0o644))
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-qm", "bench"}} {
		out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
		require.NoError(b, err, "%s", out)
	}
	require.NoError(b, os.Chmod(filepath.Dir(dir), 0o1777))
	require.NoError(b, os.WriteFile(filepath.Join(dir, ".git", "bench-done"), nil, 0o644))
	return dir
}

// BenchmarkSandboxWorkingCopy10k is a Run that changes one file of the
// 10,000-file working copy: for kubernetes the copy in, the command and the
// copy out (minus an empty directory's Run, reported as copy-ms).
func BenchmarkSandboxWorkingCopy10k(b *testing.B) {
	wc := benchWorkingCopy(b)
	for name, d := range benchDrivers(b) {
		b.Run(name, func(b *testing.B) {
			empty := b.TempDir()
			require.NoError(b, os.Chmod(filepath.Dir(empty), 0o711))
			var full, base time.Duration
			i := 0
			for b.Loop() {
				i++
				start := time.Now()
				res, err := d.Run(context.Background(), sandbox.Spec{Dir: wc, Shell: fmt.Sprintf("echo %d >> pkg000/file00000.txt && git status --porcelain | wc -l", i), Timeout: 5 * time.Minute})
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("%v %d %s", err, res.ExitCode, res.Output)
				}
				full += time.Since(start)
				start = time.Now()
				if _, err := d.Run(context.Background(), sandbox.Spec{Dir: empty, Shell: "true", Timeout: time.Minute}); err != nil {
					b.Fatal(err)
				}
				base += time.Since(start)
			}
			b.ReportMetric(float64(full.Milliseconds())/float64(b.N), "run-10k-ms")
			b.ReportMetric(float64((full-base).Milliseconds())/float64(b.N), "copy-ms")
		})
	}
}
