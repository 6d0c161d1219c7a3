// Package spec parses specs and picks the obligation a cycle works on next.
//
// A spec is a Markdown file in the repository or the body of a labelled
// issue. Its obligations are the task-list items in it, found with a real
// Markdown parser (goldmark), so a "- [ ]" inside a code block or an HTML
// comment is not an obligation and one inside a block quote or nested list
// is:
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
// # Formats
//
// specloop reads the task files of the spec-driven tools in place
// (Format, FormatOf): GitHub Spec Kit's specs/<feature>/tasks.md, Kiro's
// .kiro/specs/<feature>/tasks.md, OpenSpec's openspec/changes/<change>/tasks.md
// and plain Markdown under specs/. Candidate and HasTaskList say what
// discovery finds; ContextDocs lists the documents beside a task file the
// agent is pointed at, and Requirements reads the criteria an item names
// ("_Requirements: 1.1, 2.3_") from Kiro's requirements.md or Spec Kit's
// spec.md. Every syntax below is read in every format.
//
//	item as written                               read as
//	- [ ] T001 [P] [US1] text (depends on T000)   Spec Kit: id T001, tags P and US1, after T000
//	- [ ] 1. Group task                           Kiro: id 1
//	- [ ] 1.1 Child task                          id 1.1, a child of 1 even at the same indent
//	- [ ]* 1.2 Optional task                      skipped unless IncludeOptional
//	- [-] 1.3 Task in progress                    Kiro's in progress (Spec Kit's deferred): not picked
//	- [X] done, as Spec Kit writes it
//
// A marker specloop does not know ("[~]", "[?]") is a warning and the item
// is read as open, never skipped. An item's own sub-bullets and
// paragraphs (not its nested tasks) are its Details, for the prompt.
//
// # Ids
//
// A task code at the start of an item ("T001", "CHK001", "1.", "1.1") is
// its id; "[P]"-like tags around it stay tags.
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
// pick it), blocked (with the ids it waits for), optional or in progress,
// for the specloop/spec check run. A skipped optional item counts as done
// for whatever waits on it. When Next finds nothing, every obligation is done and a cycle
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
// after: (an id or a list of ids) and title:. Any other key, such as Spec
// Kit's description: or an issue template's name:, belongs to another tool:
// it is a warning (Error.Warning), so lint still shows a misspelt key, but
// it never stops a cycle.
//
// # Ticking
//
// Tick rewrites the one byte between the brackets of an item's box and
// leaves every other byte alone: line endings, front matter, Kiro's "*"
// and formatting survive the bot's commit. It writes "X" in a file whose
// done items all use "[X]", else "x".
//
// # Errors
//
// Problems are *Error values printing as "path:line: msg": front matter
// that is unclosed, not YAML or has unknown keys, bad globs in paths:,
// duplicate ids, task items without text, after: ids that name nothing, and
// dependency cycles; and warnings: keys of other tools, unknown markers.
// Parse fails on errors only (warnings land in Spec.Warnings); Lint
// returns both as a slice.
package spec
