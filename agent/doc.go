// Package agent is specloop's side of the conversation with a coding agent.
//
// A cycle (see DESIGN.md, steps 4–7) hands one obligation to an agent
// command (a [Preset] such as codex or claude, or any CLI), runs the
// project's verify command, and lets an independent auditor judge the diff.
// This package holds the pieces of that conversation that do not depend on
// where the commands run:
//
//   - [Prompt] writes the Markdown prompt for a [Role]; the prompt starts
//     with machine-readable header lines (see [Prompt]) so scripted agents
//     and log readers need not parse prose.
//   - [Run] runs the agent command through a [Runner] (the sandbox package
//     implements it) with the prompt on stdin, and returns an [Outcome]
//     with a capped, redacted log and the token use the agent reported.
//   - [ReadVerdict] reads and checks the auditor's verdict file.
//   - [ParseTestCounts] reads pass/fail/skip counts and failing tests from
//     the output of go test, pytest, cargo test and node's test runner;
//     [DetectVerify] picks a verify command from the files of a repo.
//   - [Redactor] masks tokens, keys and passwords before anything is
//     stored or shown, and [Cap] keeps the head and tail of long output.
//
// The package has no dependency on the sandbox, the store or GitHub.
package agent
