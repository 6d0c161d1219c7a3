// Package handlers is specloop's HTTP surface: webhook intake and routing,
// `/loop` command parsing, health and metrics, the run pages (server-rendered
// templates compiled in, live through Server-Sent Events), and the
// operators' run index and queue UI behind OPERATOR_TOKEN.
//
// A delivery and the jobs it implies are written in one transaction before
// the reply. The handlers queue jobs (package jobs' args) and read the
// store; they must not import internal/stack.
package handlers
