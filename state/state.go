package state

// Conclusion is how a cycle, or one step of it, ended. The values are
// GitHub's check-run conclusions, so a Conclusion is posted as it is.
//
// Can be one of: success, failure, neutral, cancelled, timed_out,
// action_required, skipped.
type Conclusion string

const (
	// Success: the obligation is done and its evidence passed.
	Success Conclusion = "success"
	// Failure: a step failed (agent, verify, audit, publishing).
	Failure Conclusion = "failure"
	// Neutral: nothing to do (no open obligation, no change).
	Neutral Conclusion = "neutral"
	// Cancelled: stopped on request, by a label removal or a shutdown.
	Cancelled Conclusion = "cancelled"
	// TimedOut: the agent or verify ran past its timeout, or an outside
	// call (git fetch or push, a GitHub request) hung past its deadline.
	TimedOut Conclusion = "timed_out"
	// ActionRequired: a human must look (a tamper check failed, a question).
	ActionRequired Conclusion = "action_required"
	// Skipped: a step that did not run because the cycle ended before it;
	// never the conclusion of a whole cycle.
	Skipped Conclusion = "skipped"
)

// Conclusions lists every Conclusion, in the order above.
func Conclusions() []Conclusion {
	return []Conclusion{Success, Failure, Neutral, Cancelled, TimedOut, ActionRequired, Skipped}
}

// Valid reports whether c is one of the Conclusions.
func (c Conclusion) Valid() bool {
	for _, k := range Conclusions() {
		if c == k {
			return true
		}
	}
	return false
}

// Retryable reports whether a cycle that ended so is worth running again:
// `/loop retry` picks the last such cycle, and its summary goes into the
// next attempt's prompt.
func (c Conclusion) Retryable() bool {
	switch c {
	case Failure, TimedOut, Cancelled, ActionRequired:
		return true
	}
	return false
}

// CycleState is where a cycle is in its life.
//
// Can be one of: queued, running, done.
type CycleState string

const (
	// CycleQueued: recorded with its job, not yet claimed by a worker.
	CycleQueued CycleState = "queued"
	// CycleRunning: claimed by a worker that holds its lease.
	CycleRunning CycleState = "running"
	// CycleDone: finished with a Conclusion.
	CycleDone CycleState = "done"
)

// CycleStates lists every CycleState.
func CycleStates() []CycleState { return []CycleState{CycleQueued, CycleRunning, CycleDone} }

// RunKind is what a run works from.
//
// Can be one of: issue, spec.
type RunKind string

const (
	// RunIssue: the spec is the body of a labelled issue.
	RunIssue RunKind = "issue"
	// RunSpec: the spec is a file in the repository.
	RunSpec RunKind = "spec"
)

// RunKinds lists every RunKind.
func RunKinds() []RunKind { return []RunKind{RunIssue, RunSpec} }

// RunState is whether a run takes new cycles.
//
// Can be one of: active, stopped.
type RunState string

const (
	// RunActive: cycles may be queued and run.
	RunActive RunState = "active"
	// RunStopped: stopped by `/loop stop` or a label removal; `/loop next`
	// makes it active again.
	RunStopped RunState = "stopped"
)

// RunStates lists every RunState.
func RunStates() []RunState { return []RunState{RunActive, RunStopped} }
