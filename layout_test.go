package specloop_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The layout's rules: what each package must not import, directly or
// through another package (each package's doc.go says why). Data flows one
// way: handlers → store → jobs → cycle → evidence and publish → GitHub.
func TestImportRules(t *testing.T) {
	t.Parallel()
	const mod = "github.com/specloop/specloop/"
	var (
		gh    = "github.com/google/go-github/"
		river = "github.com/riverqueue/river"
		pgx   = "github.com/jackc/pgx/"
	)
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"state", []string{mod, gh, river, pgx}},
		{"cycle", []string{mod + "store", mod + "jobs", mod + "handlers", mod + "evidence", mod + "publish", mod + "app", gh, river, pgx}},
		{"repoconfig", []string{mod + "store", mod + "cycle", mod + "jobs", mod + "sandbox", gh, river, pgx}},
		{"verify", []string{mod + "store", mod + "sandbox", mod + "cycle", mod + "jobs", gh, river, pgx}},
		{"spec", []string{mod + "store", mod + "cycle", mod + "jobs", gh, river, pgx}},
		{"agent", []string{mod + "store", mod + "cycle", mod + "jobs", mod + "repoconfig", gh, river, pgx}},
		{"evidence", []string{mod + "store", mod + "jobs", mod + "handlers", mod + "publish", river, pgx}},
		{"publish", []string{mod + "store", mod + "jobs", mod + "handlers", mod + "evidence", river, pgx}},
		{"store", []string{mod + "jobs", mod + "handlers", mod + "cycle", mod + "evidence", mod + "publish", gh}},
		{"attest", []string{mod + "store", mod + "jobs", mod + "cycle", mod + "sandbox", mod + "agent", gh, river, pgx}},
		{"jobs", []string{mod + "handlers", mod + "internal/stack", mod + "internal/procs"}},
		{"handlers", []string{mod + "internal/stack", mod + "internal/procs"}},
	}
	// go list reads the sources in another process, which go test's cache
	// does not see; reading them here makes a cached pass mean the same
	// sources.
	require.NoError(t, filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(p, ".go") && p != "go.mod") {
			return err
		}
		_, err = os.ReadFile(p)
		return err
	}))
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", mod+r.pkg).CombinedOutput()
			require.NoError(t, err, "go list %s: %s", r.pkg, out)
			for _, dep := range strings.Fields(string(out)) {
				if dep == mod+r.pkg {
					continue
				}
				for _, f := range r.forbidden {
					// "mod + x" forbids x and its subpackages; state forbids
					// every package of the module.
					if dep == f || strings.HasPrefix(dep, strings.TrimSuffix(f, "/")+"/") || (f == mod && strings.HasPrefix(dep, mod)) {
						t.Errorf("%s imports %s (through its dependencies); the layout forbids %s", r.pkg, dep, f)
					}
				}
			}
		})
	}
}
