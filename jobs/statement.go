// The evidence of a published cycle beyond its check runs: the commit's
// trailers and the signed statement of what ran, kept as an artifact and
// as a git note on the commit.

package jobs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/attest"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/internal/markdown"
	"github.com/specloop/specloop/publish"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// StatementArtifact is the artifact holding a cycle's DSSE envelope.
const StatementArtifact = "statement.intoto.json"

// statement is the cycle's statement as it is being published.
type statement struct {
	envelope []byte
	artifact int64 // its artifact's id; 0 when it could not be stored
}

// evidenceChange sets the change's trailers and its note: the statement,
// sealed with the server's evidence key, stored as an artifact as soon as
// it is made.
func (c *cycleRun) evidenceChange(change *publish.Change, sp *spec.Spec, res *cycle.Result, st *statement) {
	change.Trailers = publish.Trailers(strconv.FormatInt(c.run.ID, 10), res)
	cfg := c.rc.Config
	auditor := cfg.AuditorConfig()
	redact := func(s string) string { return string(c.d.Engine.Redactor.Redact([]byte(s))) }
	in := publish.StatementInput{
		Repo: c.rc.Full, Branch: c.run.Branch, Run: strconv.FormatInt(c.run.ID, 10), Cycle: c.cycle.ID, StartCommit: c.start,
		AgentCommand: redact(agent.CommandOf(cfg.Agent.Preset, cfg.Agent.Command)), AgentPreset: cfg.Agent.Preset,
		AuditorCommand: redact(agent.CommandOf(auditor.Preset, auditor.Command)), AuditorPreset: auditor.Preset,
		Now: time.Now(),
	}
	if c.run.Kind == state.RunIssue {
		in.Issue = c.run.Issue
	}
	change.Note = publish.SealNote(c.d.EvidenceKeys, in, res, func(env []byte) {
		st.envelope = env
		a := &store.Artifact{CycleID: c.cycle.ID, Name: StatementArtifact, Content: env}
		if err := store.InsertArtifact(context.WithoutCancel(context.Background()), c.d.Pool, a); err != nil {
			c.d.Logger.Error("store the statement", "cycle", c.cycle.ID, "err", err)
			return
		}
		st.artifact = a.ID
	})
}

// statementSection is the line every check run of the published commit
// gets about the statement.
func (c *cycleRun) statementSection(sha string, out *publish.Result, st *statement) string {
	var b strings.Builder
	b.WriteString("\n\n---\n**Statement of what ran** (in-toto, ")
	keys := c.d.EvidenceKeys
	if keys != nil && keys.Current != nil {
		fmt.Fprintf(&b, "signed with Ed25519 key `%.16s`)", attest.KeyID(keys.Public()[0]))
	} else {
		b.WriteString("**unsigned**: the server has no `EVIDENCE_KEY`, so it proves nothing)")
	}
	if st.artifact != 0 {
		fmt.Fprintf(&b, ": [%s](%s)", StatementArtifact, c.artifactURL(st.artifact))
	}
	if out.Noted {
		fmt.Fprintf(&b, "; a git note on this commit in `%s`. Check it offline: `git fetch origin %s:%s && specloop verify-evidence --repo . %.12s --key KEY`.\n",
			attest.NotesRef, attest.NotesRef, attest.NotesRef, sha)
	} else if out.NoteErr != nil {
		fmt.Fprintf(&b, "; the git note could not be pushed: %s.\n", markdown.OneLine(out.NoteErr.Error(), 300))
	} else {
		b.WriteString(".\n")
	}
	return b.String()
}

func (c *cycleRun) artifactURL(id int64) string {
	u := c.d.runURL(c.run.ID)
	page := fmt.Sprintf("/runs/%d", c.run.ID)
	return strings.Replace(u, page, fmt.Sprintf("%s/artifacts/%d", page, id), 1)
}
