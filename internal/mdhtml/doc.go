// Package mdhtml renders GitHub-flavoured Markdown to HTML for the pages
// people read: specloop's run page and the emulator's browser view. Raw
// HTML in the source is escaped, never passed through: summaries, comments
// and issue bodies are untrusted.
//
// It imports nothing of specloop.
package mdhtml
