// Package jobs holds specloop's River job kinds and their thin workers:
// cycles (claim, lease and fence around the engine of package cycle, then
// publishing and check runs), `/loop` commands, issue labels, spec checks
// on push, drains, schedules, retention and the reaper of dead workers'
// cycles. The intake queues these jobs in the same transaction as the
// delivery that implies them.
//
// A running cycle also feeds the run page and the PR: the agent's and
// verify's output as redacted "log" events a few times a second
// (livelog.go), each step's evidence as JSON on its event, and one
// progress comment per run, edited in place (progress.go).
//
// It must not import the handlers or internal/stack.
package jobs
