package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/attest"
	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/store"
)

// tapCheck is a verify command of the repo's own that prints TAP: one
// test per impl/*.ok file (failing while it says "broken") and one that
// always passes, so each obligation done is a test gone absent → green.
const tapCheck = `echo 'TAP version 13'
n=0
for f in impl/*.ok; do
  [ -e "$f" ] || continue
  n=$((n+1))
  if grep -q broken "$f"; then echo "not ok $n - $f"; else echo "ok $n - $f"; fi
done
echo "ok $((n+1)) - the build"
echo "1..$((n+1))"
`

// TestEvidenceOnGitHub runs cycles through the whole product (webhooks,
// workers, the emulator's git) and checks the evidence a reviewer gets:
// red → green and the statement link in the check runs, trailers on the
// pushed commit, the signed statement as a git note that verifies against
// the stack's key, stored as an artifact, and a `/loop next` cycle on the
// pushed commit that takes its baseline from the cache.
func TestEvidenceOnGitHub(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{Workers: 2})
	files := stack.SampleRepo(st.AgentBin())
	files["tap.sh"] = tapCheck
	files[".script/ev-3/gadget_test.go"] = "package gadgets\n\nimport \"testing\"\n\nfunc TestGadget(t *testing.T) {\n\tt.Skip(\"later\")\n}\n"
	files[".github/specloop.yml"] = fmt.Sprintf("agent: {command: %s agent-script, timeout: 2m}\nverify: {command: sh tap.sh, timeout: 1m}\n", st.AgentBin())
	addRepo(t, st, "gadgets", files)

	issue := openLabelledIssue(t, st, "gadgets", "- [ ] [ev-1] Add the gadget table\n- [ ] [ev-2] Name the gadgets\n- [ ] [ev-3] Test the gadgets [script:overlay]\n")
	run, cycles := waitCycles(t, st, "gadgets", issue, 1)
	require.Equal(t, "success", string(cycles[0].Conclusion), cycles[0].Summary)
	sha, err := st.Emulator.Ref(st.Owner, "gadgets", "heads/"+run.Branch)
	require.NoError(t, err)

	checks := checksAt(st, "gadgets", sha, cycles[0].ID)
	verifySummary := checks["specloop/verify"].GetOutput().GetSummary()
	require.Contains(t, verifySummary, "| newly passing (red or absent → green) | 1: `impl/ev-1.ok` |")
	require.Contains(t, verifySummary, "(ran before the agent): exit 0")
	keyID := attest.KeyID(st.EvidenceKey.Public().(ed25519.PublicKey))
	for _, name := range []string{"specloop/implement", "specloop/verify", "specloop/audit"} {
		s := checks[name].GetOutput().GetSummary()
		require.Contains(t, s, "**Statement of what ran** (in-toto, signed with Ed25519 key `"+keyID[:16]+"`)", name)
		require.Contains(t, s, "/artifacts/", name)
		require.Contains(t, s, "a git note on this commit in `refs/notes/specloop`", name)
	}
	arts, err := store.ListArtifacts(ctx, st.Server.Pool, cycles[0].ID)
	require.NoError(t, err)
	require.True(t, containsArtifact(arts, "statement.intoto.json"), "the statement is an artifact")
	require.True(t, containsArtifact(arts, "verify.md"), "red → green is on the run page")

	// A reviewer's clone: the commit's trailers and its statement.
	clone := cloneWithNotes(t, st, "gadgets")
	trailers := git(t, clone, "log", "-1", "--format=%(trailers:only,unfold)", sha)
	for _, want := range []string{fmt.Sprintf("Specloop-Run: %d", run.ID), "Specloop-Obligation: ev-1", "Specloop-Verify: 2 passed, 0 failed",
		"Specloop-Red-Green: 1 newly passing, 0 regressions", "Specloop-Audit: pass", "Specloop-Tokens: "} {
		require.Contains(t, trailers, want)
	}
	report, err := attest.CheckCommit(notesRepo{ctx: ctx, dir: clone}, sha, []ed25519.PublicKey{st.EvidenceKey.Public().(ed25519.PublicKey)})
	require.NoError(t, err)
	require.True(t, report.OK(), report.Text())
	p := report.Statement.Predicate
	require.Equal(t, "acme/gadgets", p.Repo)
	require.Equal(t, issue, p.Spec.Issue)
	require.Equal(t, "ev-1", p.Obligation.ID)
	require.Equal(t, []string{"impl/ev-1.ok"}, p.Verify.RedGreen.NewlyPassing)
	require.NotEmpty(t, p.Prompts)

	// The next cycle starts on the pushed commit, which verify already ran
	// on: its baseline comes from the cache, and its statement is a second
	// note beside the first.
	pr := prOf(st, "gadgets", run.Branch)
	require.NotNil(t, pr)
	comment(t, st, "maintainer", "gadgets", pr.GetNumber(), "/loop next")
	_, cycles = waitCycles(t, st, "gadgets", issue, 2)
	require.Equal(t, "success", string(cycles[1].Conclusion), cycles[1].Summary)
	sha2, err := st.Emulator.Ref(st.Owner, "gadgets", "heads/"+run.Branch)
	require.NoError(t, err)
	require.NotEqual(t, sha, sha2)
	verifySummary = checksAt(st, "gadgets", sha2, cycles[1].ID)["specloop/verify"].GetOutput().GetSummary()
	require.Contains(t, verifySummary, "from the baseline cache: this commit was verified before")
	require.Contains(t, verifySummary, "| newly passing (red or absent → green) | 1: `impl/ev-2.ok` |")
	clone = cloneWithNotes(t, st, "gadgets")
	for _, c := range []string{sha, sha2} {
		report, err := attest.CheckCommit(notesRepo{ctx: ctx, dir: clone}, c, []ed25519.PublicKey{st.EvidenceKey.Public().(ed25519.PublicKey)})
		require.NoError(t, err)
		require.True(t, report.OK(), report.Text())
	}

	// A skipped test fails the audit, whatever the (scripted) auditor
	// says, with an annotation at its line.
	comment(t, st, "maintainer", "gadgets", pr.GetNumber(), "/loop next")
	_, cycles = waitCycles(t, st, "gadgets", issue, 3)
	require.Equal(t, "failure", string(cycles[2].Conclusion), cycles[2].Summary)
	require.Contains(t, cycles[2].Summary, "The test-weakening check failed (1 finding(s))")
	sha3, err := st.Emulator.Ref(st.Owner, "gadgets", "heads/"+run.Branch)
	require.NoError(t, err)
	audit := checksAt(st, "gadgets", sha3, cycles[2].ID)["specloop/audit"]
	require.Equal(t, "failure", audit.GetConclusion())
	require.Contains(t, audit.GetOutput().GetTitle(), "Test-weakening check failed: 1 finding(s) (Auditor verdict: pass)")
	anns, _, err := st.UserClient("maintainer").Checks.ListCheckRunAnnotations(ctx, st.Owner, "gadgets", audit.GetID(), nil)
	require.NoError(t, err)
	require.Len(t, anns, 1)
	require.Equal(t, "gadget_test.go", anns[0].GetPath())
	require.Equal(t, 6, anns[0].GetStartLine())
	require.Equal(t, "failure", anns[0].GetAnnotationLevel())
	require.Equal(t, "skip added (`t.Skip`)", anns[0].GetMessage())
}

func containsArtifact(arts []store.Artifact, name string) bool {
	for _, a := range arts {
		if a.Name == name {
			return true
		}
	}
	return false
}

// cloneWithNotes clones repo from the emulator over git smart HTTP as the
// maintainer, with specloop's notes.
func cloneWithNotes(t *testing.T, st *stack.Stack, repo string) string {
	t.Helper()
	u, err := url.Parse(st.Emulator.URL())
	require.NoError(t, err)
	u.User = url.UserPassword("maintainer", st.Tokens["maintainer"])
	u.Path = "/" + st.Owner + "/" + repo + ".git"
	dir := filepath.Join(t.TempDir(), "clone")
	out, err := exec.Command("git", "clone", "-q", u.String(), dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	git(t, dir, "fetch", "-q", "origin", attest.NotesRef+":"+attest.NotesRef)
	require.NotEmpty(t, strings.TrimSpace(git(t, dir, "notes", "--ref=specloop", "list")))
	return dir
}
