// Package verify knows the projects' test runners: which verify command a
// repo's files suggest, and what a run's output says (pass, fail and skip
// counts, the failing tests with their file:line).
//
// It runs nothing and must not import the sandbox, the store, River or
// go-github: the engine runs the command and hands the output here.
package verify
