package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/attest"
)

// keyFlags collects --key values: a file holding a public key, or the key.
type keyFlags []string

func (k *keyFlags) String() string     { return strings.Join(*k, ",") }
func (k *keyFlags) Set(v string) error { *k = append(*k, v); return nil }

// runVerifyEvidence is `specloop verify-evidence --repo DIR REV [--key
// PUB]...`: check the statement specloop attached to REV (a git note on
// refs/notes/specloop) offline, against the public key(s) and the
// repository, and say what it proves. Without --key it uses the keys of
// EVIDENCE_KEY and EVIDENCE_KEY_PREVIOUS, as a worker has them.
func runVerifyEvidence(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("specloop verify-evidence", flag.ContinueOnError)
	fs.SetOutput(stderr)
	repo := fs.String("repo", ".", "the git repository holding the commit and its notes")
	var keys keyFlags
	fs.Var(&keys, "key", "Ed25519 public key (PEM or base64), or a file holding one; repeat for several")
	// Flags may come before and after REV.
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) != 1 {
		fmt.Fprintln(stderr, "usage: specloop verify-evidence --repo DIR REV [--key PUB]")
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "specloop verify-evidence: "+format+"\n", a...)
		return 1
	}
	var pubs []ed25519.PublicKey
	for _, k := range keys {
		v := k
		if b, err := os.ReadFile(k); err == nil {
			v = string(b)
		}
		pub, err := attest.ParsePublicKey(v)
		if err != nil {
			return fail("--key %s: %v", filepath.Base(k), err)
		}
		pubs = append(pubs, pub)
	}
	if len(pubs) == 0 {
		cfg := &app.Config{}
		if errs := app.LoadEvidenceKeys(cfg, os.Getenv); len(errs) > 0 {
			return fail("%v", errors.Join(errs...))
		}
		pubs = cfg.EvidencePublicKeys()
	}
	dir, err := filepath.Abs(*repo)
	if err != nil {
		return fail("%v", err)
	}
	report, err := attest.CheckCommit(notesRepo{ctx: ctx, dir: dir}, rest[0], pubs)
	if err != nil {
		return fail("%v", err)
	}
	fmt.Fprint(stdout, report.Text())
	if !report.OK() {
		return 1
	}
	return 0
}

// runEvidenceKey is `specloop evidence-key`: print the public half of
// EVIDENCE_KEY (and EVIDENCE_KEY_PREVIOUS), for reviewers' --key.
func runEvidenceKey(_ context.Context, _ []string, stdout, stderr io.Writer) int {
	cfg := &app.Config{}
	if errs := app.LoadEvidenceKeys(cfg, os.Getenv); len(errs) > 0 {
		fmt.Fprintf(stderr, "specloop evidence-key: %v\n", errors.Join(errs...))
		return 1
	}
	pubs := cfg.EvidencePublicKeys()
	if len(pubs) == 0 {
		fmt.Fprintln(stderr, "specloop evidence-key: EVIDENCE_KEY is not set")
		return 1
	}
	for _, p := range pubs {
		fmt.Fprintf(stdout, "# key id %s\n%s", attest.KeyID(p), attest.PublicPEM(p))
	}
	return 0
}

// notesRepo reads a local repository with git, for attest.CheckCommit.
type notesRepo struct {
	ctx context.Context
	dir string
}

func (g notesRepo) git(args ...string) ([]byte, error) {
	cmd := exec.CommandContext(g.ctx, "git", append([]string{"-C", g.dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (g notesRepo) Commit(rev string) (string, error) {
	if strings.HasPrefix(rev, "-") {
		return "", fmt.Errorf("%q is not a revision", rev)
	}
	out, err := g.git("rev-parse", "--verify", "--end-of-options", rev+"^{commit}")
	return strings.TrimSpace(string(out)), err
}

func (g notesRepo) Note(ref, sha string) ([]byte, error) {
	return g.git("notes", "--ref="+ref, "show", sha)
}

func (g notesRepo) File(commit, path string) ([]byte, error) {
	return g.git("cat-file", "blob", commit+":"+path)
}

func (g notesRepo) IsAncestor(a, b string) (bool, error) {
	_, err := g.git("merge-base", "--is-ancestor", a, b)
	var ee *exec.ExitError
	if errors.As(errors.Unwrap(err), &ee) && ee.ExitCode() == 1 {
		return false, nil
	}
	return err == nil, err
}
