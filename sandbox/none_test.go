package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/sandbox"
)

func TestNone(t *testing.T) {
	// Not parallel: runSuite uses t.Setenv.
	d, err := sandbox.New("none", nil)
	require.NoError(t, err)
	require.Equal(t, "none", d.Name())
	runSuite(t, d)
}

func TestNew(t *testing.T) {
	t.Parallel()

	_, err := sandbox.New("chroot", nil)
	require.ErrorContains(t, err, `unknown driver "chroot"`)

	_, err = sandbox.New("docker", nil)
	require.ErrorContains(t, err, "docker driver not available in this build")
}

func BenchmarkRunTrue(b *testing.B) {
	for _, name := range []string{"bwrap", "none"} {
		b.Run(name, func(b *testing.B) {
			d, err := sandbox.New(name, nil)
			require.NoError(b, err)
			dir := b.TempDir()
			require.NoError(b, os.Chmod(filepath.Dir(dir), 0o711))
			s := sandbox.Spec{Dir: dir, Argv: []string{"true"}, Timeout: time.Minute}
			for b.Loop() {
				res, err := d.Run(context.Background(), s)
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("true: %v, exit %d: %s", err, res.ExitCode, res.Output)
				}
			}
		})
	}
}
