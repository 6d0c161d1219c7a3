// Package evidence turns what a cycle did into what a reviewer reads on
// GitHub: check runs created queued, moved to in progress and completed,
// their output kept within GitHub's limits (65,535 characters, 50
// annotations a request), findings as annotations, and the specloop/spec
// summary of a spec's obligations.
//
// It must not import the store or River: the workers record what it
// created. It reads the engine's results (package cycle) and never runs a
// step itself.
package evidence
