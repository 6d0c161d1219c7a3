// Package attest is the signed statement of what a cycle ran: an in-toto
// Statement v1 whose subject is the pushed commit (a gitCommit digest)
// and whose predicate (PredicateType) records the spec and its hash at
// the start commit, the obligation, the agent, the prompts' hashes, the
// verify runs before and after with their red → green comparison, the
// test-weakening findings, the audit verdict and the tokens. It is
// wrapped in a DSSE envelope signed with Ed25519 (keys from
// EVIDENCE_KEY, with EVIDENCE_KEY_PREVIOUS still verifying during a
// rotation), and checked offline by `specloop verify-evidence`.
//
// It holds data and cryptography only: it must not import the store, River,
// go-github, the engine or anything that runs a step.
package attest
