package attest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Repo is the git repository a statement is checked against, offline.
type Repo interface {
	// Commit resolves rev to a full commit sha.
	Commit(rev string) (string, error)
	// Note is the note on sha under ref; an error when there is none.
	Note(ref, sha string) ([]byte, error)
	// File is the content of path at commit.
	File(commit, path string) ([]byte, error)
	// IsAncestor reports whether a is an ancestor of (or equal to) b.
	IsAncestor(a, b string) (bool, error)
}

// Check is one thing verify-evidence checked.
type Check struct {
	What   string
	OK     bool
	Detail string
}

// Report is what checking a commit's statement found.
type Report struct {
	Rev, Commit string
	Statement   *Statement
	KeyID       string
	Checks      []Check
}

// OK reports whether every check passed.
func (r *Report) OK() bool {
	if len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

func (r *Report) add(what string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{What: what, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

// CheckCommit checks the statement attached to rev (the note on NotesRef)
// against keys and the repository: the signature, that the subject is
// rev's commit exactly, that the start commit is an ancestor, and that the
// spec at the start commit hashes as the statement says.
func CheckCommit(repo Repo, rev string, keys []ed25519.PublicKey) (*Report, error) {
	r := &Report{Rev: rev}
	sha, err := repo.Commit(rev)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", rev, err)
	}
	r.Commit = sha
	note, err := repo.Note(NotesRef, sha)
	if err != nil {
		r.add("statement", false, "no statement on %.12s under %s (fetch it with `git fetch origin %s:%s`; an amended or rebased commit has none)", sha, NotesRef, NotesRef, NotesRef)
		return r, nil
	}
	if len(keys) == 0 {
		return nil, errors.New("no public key to check the signature with: pass --key (or set EVIDENCE_KEY)")
	}
	s, keyID, err := Open(note, keys)
	if s == nil {
		r.add("statement", false, "%v", err)
		return r, nil
	}
	r.Statement, r.KeyID = s, keyID
	if err != nil {
		r.add("signature", false, "%v", err)
	} else {
		r.add("signature", true, "Ed25519, key %s", shortID(keyID))
	}
	if got := s.Commit(); got == sha {
		r.add("subject", true, "commit %s, exactly the commit checked", sha)
	} else {
		r.add("subject", false, "the statement is about commit %s, not %s: the commit was changed (amended, rebased) after specloop made it, or the note was copied", got, sha)
	}
	p := s.Predicate
	if p.StartCommit == "" {
		r.add("start commit", false, "the statement names no start commit")
	} else if ok, err := repo.IsAncestor(p.StartCommit, sha); err != nil || !ok {
		r.add("start commit", false, "%.12s is not an ancestor of %.12s in this repository (fetch it?)", p.StartCommit, sha)
	} else {
		r.add("start commit", true, "%.12s, an ancestor of the commit", p.StartCommit)
	}
	switch {
	case p.Spec.Issue != 0:
		r.add("spec", true, "the body of issue #%d (not in git: not checked offline)", p.Spec.Issue)
	case p.Spec.Path == "" || p.Spec.SHA256 == "":
		r.add("spec", false, "the statement names no spec hash")
	case p.StartCommit != "":
		src, err := repo.File(p.StartCommit, p.Spec.Path)
		if err != nil {
			r.add("spec", false, "%s at %.12s: %v", p.Spec.Path, p.StartCommit, err)
			break
		}
		h := sha256.Sum256(src)
		if got := hex.EncodeToString(h[:]); got == p.Spec.SHA256 {
			r.add("spec", true, "%s at the start commit, sha256 %.16s…", p.Spec.Path, got)
		} else {
			r.add("spec", false, "%s at the start commit hashes to %s, the statement says %s", p.Spec.Path, got, p.Spec.SHA256)
		}
	}
	return r, nil
}

// Text is the report for people: each check, what the statement says ran,
// and what that proves.
func (r *Report) Text() string {
	var b strings.Builder
	verdict := "FAILS"
	if r.OK() {
		verdict = "verifies"
	}
	fmt.Fprintf(&b, "specloop statement on %s (%.12s): %s\n\n", r.Rev, r.Commit, verdict)
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %-13s %s\n", mark, c.What, c.Detail)
	}
	s := r.Statement
	if s == nil {
		return b.String()
	}
	p := s.Predicate
	b.WriteString("\nWhat it says ran")
	if !r.OK() {
		b.WriteString(" (NOT trustworthy: a check failed)")
	}
	b.WriteString(":\n")
	fmt.Fprintf(&b, "  repo %s, branch %s, run %s, cycle %d, conclusion %s, finished %s\n", p.Repo, p.Branch, p.Run, p.Cycle, p.Conclusion, p.FinishedAt)
	fmt.Fprintf(&b, "  obligation %s: %s\n", p.Obligation.ID, p.Obligation.Text)
	fmt.Fprintf(&b, "  agent `%s`; %d prompt(s) hashed\n", p.Agent.Command, len(p.Prompts))
	if v := p.Verify; v != nil {
		fmt.Fprintf(&b, "  verify `%s`: before %s; after %s\n", v.Command, runText(v.Before), runText(v.After))
		if rg := v.RedGreen; rg != nil {
			fmt.Fprintf(&b, "  red → green: %d newly passing %v, %d regressions %v, %d unchanged failures\n",
				len(rg.NewlyPassing), rg.NewlyPassing, len(rg.Regressions), rg.Regressions, len(rg.StillFailing))
		} else {
			b.WriteString("  red → green: per-test results not available\n")
		}
	} else {
		b.WriteString("  verify: no command\n")
	}
	failing := 0
	for _, f := range p.Weakening {
		if f.Severity == "failure" {
			failing++
		}
	}
	fmt.Fprintf(&b, "  test-weakening checks: %d failing, %d warning\n", failing, len(p.Weakening)-failing)
	fmt.Fprintf(&b, "  audit: %s (%s)\n", p.Audit.Conclusion, p.Audit.Title)
	if p.Tokens != nil {
		fmt.Fprintf(&b, "  tokens: %d (%d in, %d out)\n", p.Tokens.Total, p.Tokens.Input, p.Tokens.Output)
	}
	if r.OK() {
		b.WriteString("\nWhat this proves: the holder of the key above signed these results for exactly this commit, made from that start commit\n" +
			"and that spec; a later amend, rebase or edit of the commit breaks it. It does not prove the tests are good tests,\n" +
			"only what ran and what they said.\n")
	}
	return b.String()
}

func runText(r *Run) string {
	switch {
	case r == nil:
		return "not run"
	case r.Error != "":
		return "could not run"
	case r.TimedOut:
		return "timed out"
	case !r.Counted:
		return fmt.Sprintf("exit %d (counts not recognised)", r.ExitCode)
	}
	return fmt.Sprintf("exit %d, %d passed, %d failed, %d skipped", r.ExitCode, r.Passed, r.Failed, r.Skipped)
}
