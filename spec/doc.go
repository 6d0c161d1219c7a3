// Package spec parses specs and picks the obligation a cycle works on next.
//
// A spec is a Markdown file in the repository (by default matching
// DefaultGlob) or the body of a labelled issue. Its obligations are the
// GitHub task-list items in it, found with a real Markdown parser
// (goldmark with its task-list extension), so a "- [ ]" inside a code block
// is not an obligation and one inside a block quote or nested list is:
//
//	---
//	verify: go test ./auth/...
//	paths: ["auth/**", "cmd/login/*.go"]
//	after: [auth-0]
//	---
//	# Auth
//	## Login
//	- [ ] [auth-0] Add the users table
//	- [ ] Add the login form (after: auth-0)
//	  - [x] Render the form
//	  - [ ] Validate the password
//
// # Ids
//
// "- [ ] [auth-1] text" gives the item the id auth-1. Without one, the id is
// a short slug of the text and six hex digits of a SHA-256 over the spec
// path and the text (lowercased, spaces collapsed, id and after clause
// removed): "add-the-login-form-3fa2c1". It does not change when other
// items are added or removed, headings move, or the box is ticked; it does
// change when the item is reworded or the file renamed, so work that lives
// long or is referred to by after: should carry explicit ids. Two items
// with the same text get "-2", "-3" suffixes in document order. The
// obligation of an issue body without a task list is "issue-<n>".
//
// # Order
//
// Next returns the first open obligation in document order that waits for
// nothing. An obligation waits for
//
//   - the ids in a trailing "(after: a-1, a-2)" on the item itself;
//   - its open nested items: a parent is the sum of its children, so they
//     are picked first, top to bottom, and the parent last, for whatever
//     is left of it;
//   - the ids in the front matter's after:, which go before every other
//     obligation of the spec. Those ids, and whatever they wait for in turn,
//     are exempt, since that work must be able to happen first.
//
// after: ids name obligations of the same spec; an unknown id is an error,
// and so is a cycle. Status shows each obligation as done, open (Next may
// pick it) or blocked (with the ids it waits for), for the specloop/spec
// check run. When Next finds nothing, every obligation is done and a cycle
// concludes neutral.
//
// A spec without any task-list item is a single obligation: its text is
// the title (front matter title:, else the first heading, else the file
// name, or the issue title) and its section is the whole body. It has no
// box, so Tick returns ErrNoCheckbox for it.
//
// # Front matter
//
// Optional YAML between "---" lines at the very top may set verify: (a
// command), paths: (globs, as for Match, where the agent may write),
// after: (an id or a list of ids) and title:. Any other key is an error, so
// a misspelt key is caught by lint rather than silently ignored.
//
// # Ticking
//
// Tick rewrites the one byte between the brackets of an item's box and
// leaves every other byte alone: line endings, front matter and formatting
// survive the bot's commit.
//
// # Errors
//
// Problems are *Error values printing as "path:line: msg": front matter
// that is unclosed, not YAML or has unknown keys, bad globs in paths:,
// duplicate ids, task items without text, after: ids that name nothing, and
// dependency cycles. Parse reports all of them in one error; Lint returns
// them as a slice.
package spec
