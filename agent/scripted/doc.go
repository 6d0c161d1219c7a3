// Package scripted is a deterministic stand-in for a coding agent, for
// tests and "specloop testdrive" (the hidden "specloop agent-script"
// subcommand runs Main).
//
// It reads a prompt written by agent.Prompt on stdin, takes the obligation
// and its role from the prompt's header lines (Specloop-Role,
// Obligation-ID, Obligation-Text, Spec-Path, Audit-File; SPECLOOP_ROLE in
// the environment wins over Specloop-Role), and acts:
//
//   - implementer and fixer: append "- <id>: <text>" to IMPLEMENTED.md
//     (once), write impl/<id>.txt holding the text and impl/<id>.ok holding
//     "ok" (the implementer) or "fixed" (the fixer).
//   - auditor: write a pass verdict to the Audit-File.
//
// Switches, from SPECLOOP_SCRIPT (comma-separated) and from markers such as
// "[script:fail]" or "[script:breaktests,tokens]" in the obligation text, so
// that an end-to-end spec can drive each obligation differently:
//
//	fail          exit 1 with a message, change nothing
//	hang          sleep until killed (SPECLOOP_SCRIPT_HANG bounds it, e.g. "50ms")
//	nochange      exit 0, change nothing
//	editspec      also append a line to the spec file (tampering)
//	editworkflow  also write .github/workflows/ci.yml (a CI workflow edit)
//	slow          take SlowFor before exiting (tests act meanwhile)
//	breaktests    the implementer writes "broken" to impl/<id>.ok; the fixer
//	              writes "fixed"
//	breakalways   like breaktests, but the fixer does not fix
//	auditfail     the auditor fails the change, one finding at IMPLEMENTED.md:1
//	auditgarbage  the auditor writes a verdict that is not JSON
//	tokens        print a Codex-style JSONL token usage line
//	slow          the implementer prints SlowLines lines SlowEvery apart first
//	overlay       the implementer also copies .script/<id>/ over the working
//	              copy (a FILE.delete there deletes FILE): a real change
//	              to real code and tests, for red → green and weakening
//
// VerifyCommand is a verify command that fails while any impl/*.ok says
// "broken".
package scripted
