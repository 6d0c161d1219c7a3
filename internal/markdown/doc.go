// Package markdown holds the few text helpers every writer of GitHub
// Markdown in specloop needs (the engine's summaries, check runs, PR
// bodies): table cells, log tails and length caps that never split a
// character.
//
// It imports nothing of specloop.
package markdown
