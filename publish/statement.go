package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/attest"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/workspace"
)

// StatementInput is what a statement of a cycle says besides its Result.
type StatementInput struct {
	Repo        string // "owner/name", or the local directory
	Branch      string
	Run         string
	Cycle       int64
	StartCommit string
	// AgentCommand and AuditorCommand are as the repo config gives them
	// (redacted by the caller if they could hold anything secret).
	AgentCommand, AuditorCommand string
	// AgentPreset and AuditorPreset name the presets the config chose.
	AgentPreset, AuditorPreset string
	Issue                      int // the issue whose body is the spec; 0 for a file
	Now                        time.Time
}

// Statement is the in-toto statement of what the cycle res ran, about
// commit.
func Statement(commit string, in StatementInput, res *cycle.Result) *attest.Statement {
	p := attest.Predicate{
		Repo: in.Repo, Branch: in.Branch, Run: in.Run, Cycle: in.Cycle, StartCommit: in.StartCommit,
		Conclusion: string(res.Conclusion), FinishedAt: in.Now.UTC().Format(time.RFC3339),
		Spec:     attest.Spec{Path: res.SpecPath, SHA256: res.SpecSHA256, GitBlob: res.SpecGitBlob, Issue: in.Issue},
		Agent:    attest.Agent{Command: in.AgentCommand, Auditor: in.AuditorCommand, Preset: in.AgentPreset, AuditorPreset: in.AuditorPreset},
		Specloop: attest.SpecloopBuild{Version: version()},
	}
	if res.Obligation != nil {
		p.Obligation = attest.Obligation{ID: res.Obligation.ID, Text: res.Obligation.Text}
	}
	roles := make([]string, 0, len(res.Prompts))
	for r := range res.Prompts {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	for _, r := range roles {
		h := sha256.Sum256([]byte(res.Prompts[r]))
		p.Prompts = append(p.Prompts, attest.Prompt{Role: r, SHA256: hex.EncodeToString(h[:])})
	}
	if v := res.Verify; v != nil {
		p.Verify = &attest.Verify{Command: v.Command, Require: v.Require, Before: run(v.Before), BeforeCached: v.BeforeCached, After: run(v.After)}
		if v.RedGreen() {
			c := v.Compare
			p.Verify.RedGreen = &attest.Comparison{NewlyPassing: nonNil(c.NewlyPassing), Regressions: nonNil(c.Regressions),
				StillFailing: nonNil(c.StillFailing), NewFailures: nonNil(c.NewFailures), Gone: nonNil(c.Gone)}
		}
	}
	p.Weakening = findings(res.Weakening)
	if a := res.Step(cycle.StepAudit); a != nil {
		p.Audit = attest.Audit{Conclusion: string(a.Conclusion), Title: a.Title}
		for _, f := range a.Findings {
			switch f.Severity {
			case agent.SeverityFailure:
				p.Audit.Failing++
			case agent.SeverityWarning:
				p.Audit.Warnings++
			}
		}
	}
	if t := res.Tokens; t != nil {
		p.Tokens = &attest.Tokens{Input: t.Input, Cached: t.Cached, Output: t.Output, Total: t.Total}
	}
	return attest.NewStatement(in.Repo, commit, p)
}

// SealNote is a Change's Note: the cycle's statement about the commit,
// sealed in a DSSE envelope by keys (unsigned when keys has no current
// key). sealed receives the envelope too, for the run's artifacts.
func SealNote(keys *attest.Keys, in StatementInput, res *cycle.Result, sealed func([]byte)) func(context.Context, string) ([]byte, error) {
	return func(_ context.Context, sha string) ([]byte, error) {
		env, err := keys.Seal(Statement(sha, in, res))
		if err != nil {
			return nil, err
		}
		if sealed != nil {
			sealed(env)
		}
		return env, nil
	}
}

func run(r *cycle.VerifyRun) *attest.Run {
	if r == nil {
		return nil
	}
	return &attest.Run{ExitCode: r.ExitCode, TimedOut: r.TimedOut, Error: r.Error, Passed: r.Passed, Failed: r.Failed, Skipped: r.Skipped,
		Counted: r.Counted, TestsFrom: r.Tests.Format, Tests: len(r.Tests.Tests)}
}

func findings(fs []agent.Finding) []attest.Finding {
	out := []attest.Finding{}
	for _, f := range fs {
		out = append(out, attest.Finding{File: f.File, Line: f.Line, Severity: f.Severity, Message: f.Message})
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// version is specloop's module version, or the VCS revision of a build
// from a checkout.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v = fmt.Sprintf("%s (%s)", v, s.Value)
		}
	}
	return v
}

// NotePusher is a Backend that can push a git note with the branch.
type NotePusher interface {
	PushNote(ctx context.Context, wd *workspace.Workdir, sha string, note []byte, author workspace.Signature) error
}

// PushNote pushes the note to the local repository.
func (l Local) PushNote(ctx context.Context, wd *workspace.Workdir, sha string, note []byte, author workspace.Signature) error {
	return wd.PushNote(ctx, workspace.NoteOptions{RemoteURL: l.Dir, Ref: attest.NotesRef, SHA: sha, Note: note, Author: author})
}

// PushNote pushes the note to the repository on GitHub with a fresh
// token.
func (g *GitHub) PushNote(ctx context.Context, wd *workspace.Workdir, sha string, note []byte, author workspace.Signature) error {
	token, err := g.Token(ctx)
	if err != nil {
		return fmt.Errorf("token to push the note: %w", err)
	}
	return wd.PushNote(ctx, workspace.NoteOptions{RemoteURL: g.CloneURL, Token: token, Ref: attest.NotesRef, SHA: sha, Note: note, Author: author})
}
