package jobs

import (
	"time"

	"github.com/riverqueue/river"
)

// The job kinds the intake queues. Each carries what its worker needs so the
// worker never re-reads the delivery body.

// IssueLabelArgs asks to start (Labeled) or cancel (!Labeled) the run of a
// labelled issue. The worker compares Label with the repo's configured label.
type IssueLabelArgs struct {
	Repo           string `json:"repo"`
	InstallationID int64  `json:"installation_id"`
	Issue          int    `json:"issue"`
	Label          string `json:"label"`
	Labeled        bool   `json:"labeled"`
	Sender         string `json:"sender"`
	Delivery       string `json:"delivery"`
	// Reconcile marks a run the reconcile job asks for (no delivery): it
	// starts one only if the issue still has none.
	Reconcile bool `json:"reconcile,omitempty"`
}

func (IssueLabelArgs) Kind() string { return "issue_label" }

// PullClosedArgs is a PR closed or merged: its run, if it has one, stops.
type PullClosedArgs struct {
	Repo           string `json:"repo"`
	InstallationID int64  `json:"installation_id"`
	PR             int    `json:"pr"`
	Branch         string `json:"branch"`
	Merged         bool   `json:"merged"`
	Sender         string `json:"sender"`
	Delivery       string `json:"delivery"`
}

func (PullClosedArgs) Kind() string { return "pull_closed" }

// CommandArgs is a `/loop` command from an issue or PR comment.
type CommandArgs struct {
	Repo           string   `json:"repo"`
	InstallationID int64    `json:"installation_id"`
	Issue          int      `json:"issue"`
	IsPR           bool     `json:"is_pr"`
	CommentID      int64    `json:"comment_id"`
	Command        string   `json:"command"`
	Args           []string `json:"args,omitempty"`
	// Text is everything after the command's name (the fix instruction,
	// the answer), as written: untrusted.
	Text string `json:"text,omitempty"`
	// Quote, when set, marks a reply that is no command but quotes text
	// (Command is then "answer"): it answers the run's waiting question
	// if it quotes it, and is ignored otherwise.
	Quote    string `json:"quote,omitempty"`
	Sender   string `json:"sender"`
	Delivery string `json:"delivery"`
}

func (CommandArgs) Kind() string { return "command" }

// SpecPushArgs is a push to the default branch that touched Markdown or the
// repo config; the worker applies the repo's spec globs to Files.
type SpecPushArgs struct {
	Repo           string   `json:"repo"`
	InstallationID int64    `json:"installation_id"`
	Ref            string   `json:"ref"`
	Before         string   `json:"before"`
	After          string   `json:"after"`
	Files          []string `json:"files"`
	Delivery       string   `json:"delivery"`
	// Rerun is "Re-run" on a specloop/spec check: post it again, queue no
	// cycles.
	Rerun bool `json:"rerun,omitempty"`
}

func (SpecPushArgs) Kind() string { return "spec_push" }

// ConfigRecheckArgs is "Re-run" on a specloop/config check: read the
// config again and post what it says now.
type ConfigRecheckArgs struct {
	Repo           string `json:"repo"`
	InstallationID int64  `json:"installation_id"`
	Delivery       string `json:"delivery"`
}

func (ConfigRecheckArgs) Kind() string { return "config_recheck" }

// CheckRunArgs is a click on one of specloop's own check runs: "Re-run"
// (rerequested) or an action button (requested_action).
type CheckRunArgs struct {
	Repo           string `json:"repo"`
	InstallationID int64  `json:"installation_id"`
	CheckRunID     int64  `json:"check_run_id"`
	Name           string `json:"name"`
	ExternalID     string `json:"external_id"`
	HeadSHA        string `json:"head_sha"`
	Action         string `json:"action"`
	Identifier     string `json:"identifier,omitempty"`
	Sender         string `json:"sender"`
	Delivery       string `json:"delivery"`
}

func (CheckRunArgs) Kind() string { return "check_run" }

// CycleArgs runs one cycle, already recorded in the cycles table.
type CycleArgs struct {
	CycleID int64 `json:"cycle_id"`
	// Takeover is the fence of the dead worker whose cycle this job takes
	// over (0 for a first run); it makes each takeover job unique.
	Takeover int64 `json:"takeover,omitempty"`
}

func (CycleArgs) Kind() string { return "cycle" }

// InsertOpts puts cycles on their own queue, sized by WORKERS.
func (CycleArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: QueueCycles} }

// DrainArgs drains a repo's open obligations on its schedule.
type DrainArgs struct {
	Repo           string `json:"repo"`
	InstallationID int64  `json:"installation_id"`
	// Due is the minute the schedule fell due; it makes the drain unique.
	Due time.Time `json:"due,omitzero"`
}

func (DrainArgs) Kind() string { return "drain" }

// RetentionArgs prunes events and artifacts older than the retention.
type RetentionArgs struct{}

func (RetentionArgs) Kind() string { return "retention" }
