package attest

import (
	"encoding/json"
	"fmt"
)

// In-toto and DSSE constants.
const (
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateType is specloop's predicate: version 1 of "a cycle".
	PredicateType = "https://specloop.dev/attestation/cycle/v1"
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// NotesRef is the git notes ref statements are attached under.
	NotesRef = "refs/notes/specloop"
)

// Statement is an in-toto Statement v1 with specloop's predicate.
type Statement struct {
	Type          string    `json:"_type"`
	Subject       []Subject `json:"subject"`
	PredicateType string    `json:"predicateType"`
	Predicate     Predicate `json:"predicate"`
}

// Subject is what the statement is about: the pushed commit.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Predicate is what ran in the cycle that made the subject commit.
type Predicate struct {
	Repo        string `json:"repo"`
	Branch      string `json:"branch,omitempty"`
	Run         string `json:"run"`
	Cycle       int64  `json:"cycle,omitempty"`
	StartCommit string `json:"startCommit"`
	Conclusion  string `json:"conclusion"`
	FinishedAt  string `json:"finishedAt"`

	Spec       Spec          `json:"spec"`
	Obligation Obligation    `json:"obligation"`
	Agent      Agent         `json:"agent"`
	Prompts    []Prompt      `json:"prompts"`
	Verify     *Verify       `json:"verify,omitempty"`
	Weakening  []Finding     `json:"weakening"`
	Audit      Audit         `json:"audit"`
	Tokens     *Tokens       `json:"tokens,omitempty"`
	Specloop   SpecloopBuild `json:"specloop"`
}

// Spec is the spec the obligation came from, as it was at the start commit.
type Spec struct {
	Path string `json:"path"`
	// SHA256 is of the file's bytes at the start commit; GitBlob its git
	// blob id there, which `git rev-parse START:PATH` prints. Both are
	// empty for an issue's spec (the body lives on GitHub, not in git).
	SHA256  string `json:"sha256,omitempty"`
	GitBlob string `json:"gitBlob,omitempty"`
	Issue   int    `json:"issue,omitempty"`
}

// Obligation is the one the cycle worked on.
type Obligation struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// Agent is what ran as the agent.
type Agent struct {
	Command string `json:"command"`
	Auditor string `json:"auditor,omitempty"`
	// Preset and AuditorPreset name the presets when the config chose
	// them (Command is then the preset's command).
	Preset        string `json:"preset,omitempty"`
	AuditorPreset string `json:"auditorPreset,omitempty"`
}

// Prompt is the hash of one role's prompt, as stored with the run.
type Prompt struct {
	Role   string `json:"role"`
	SHA256 string `json:"sha256"`
}

// Verify is the verify command and its runs.
type Verify struct {
	Command      string      `json:"command"`
	Require      string      `json:"require,omitempty"`
	Before       *Run        `json:"before,omitempty"`
	BeforeCached bool        `json:"beforeCached,omitempty"`
	After        *Run        `json:"after,omitempty"`
	RedGreen     *Comparison `json:"redGreen,omitempty"`
}

// Run is one verify run, in counts (per-test results stay with the run's
// artifacts; the comparison below names the tests that changed).
type Run struct {
	ExitCode  int    `json:"exitCode"`
	TimedOut  bool   `json:"timedOut,omitempty"`
	Error     string `json:"error,omitempty"`
	Passed    int    `json:"passed"`
	Failed    int    `json:"failed"`
	Skipped   int    `json:"skipped"`
	Counted   bool   `json:"counted"`
	TestsFrom string `json:"testsFrom,omitempty"` // the per-test format; empty: none
	Tests     int    `json:"tests"`
}

// Comparison is the red → green result.
type Comparison struct {
	NewlyPassing []string `json:"newlyPassing"`
	Regressions  []string `json:"regressions"`
	StillFailing []string `json:"stillFailing"`
	NewFailures  []string `json:"newFailures"`
	Gone         []string `json:"gone"`
}

// Finding is a finding at file:line.
type Finding struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

// Audit is the audit step's outcome: the auditor's verdict and the
// deterministic checks together.
type Audit struct {
	Conclusion string `json:"conclusion"`
	Title      string `json:"title"`
	Failing    int    `json:"failing"`
	Warnings   int    `json:"warnings"`
}

// Tokens is the token use the agent passes reported.
type Tokens struct {
	Input  int `json:"input"`
	Cached int `json:"cached,omitempty"`
	Output int `json:"output"`
	Total  int `json:"total"`
}

// SpecloopBuild is the specloop that made the statement.
type SpecloopBuild struct {
	Version string `json:"version"`
}

// NewStatement is a statement about commit of repo.
func NewStatement(repo, commit string, p Predicate) *Statement {
	return &Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: repo, Digest: map[string]string{"gitCommit": commit}}},
		PredicateType: PredicateType,
		Predicate:     p,
	}
}

// Commit is the subject's commit sha, or "" when the statement names none.
func (s *Statement) Commit() string {
	if len(s.Subject) != 1 {
		return ""
	}
	return s.Subject[0].Digest["gitCommit"]
}

// check reports what makes s not a specloop statement.
func (s *Statement) check() error {
	switch {
	case s.Type != StatementType:
		return fmt.Errorf("_type is %q, not %q", s.Type, StatementType)
	case s.PredicateType != PredicateType:
		return fmt.Errorf("predicateType is %q, not %q", s.PredicateType, PredicateType)
	case s.Commit() == "":
		return fmt.Errorf("the subject names no gitCommit")
	}
	return nil
}

func parseStatement(payload []byte) (*Statement, error) {
	var s Statement
	if err := json.Unmarshal(payload, &s); err != nil {
		return nil, fmt.Errorf("read the statement: %w", err)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("not a specloop statement: %w", err)
	}
	return &s, nil
}
