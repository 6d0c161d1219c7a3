// Package githubseam is the conformance suite of specloop's GitHub seam,
// in the way river's driver suite works: one set of tests (Run) of what
// specloop asks of GitHub, through its own code (publish, evidence, the
// app client layer), run against the emulator in CI and against real
// GitHub when a token and a scratch repository are in the environment.
// Where the emulator and GitHub disagree, this suite says which is wrong.
//
// It is imported by tests only; it must not import internal/stack, so
// the suite stays a description of GitHub, not of specloop's wiring.
package githubseam
