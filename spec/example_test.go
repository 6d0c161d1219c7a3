package spec_test

import (
	"fmt"
	"strings"

	"github.com/specloop/specloop/spec"
)

const loginSpec = `---
verify: go test ./auth/...
paths: ["auth/**"]
---
# Auth

## Login

- [x] [auth-1] Add the users table
- [ ] [auth-2] Add the login form (after: auth-1)
  - [ ] [auth-3] Render the form
- [ ] [auth-4] Rate-limit failed attempts (after: auth-2)
`

func ExampleParse() {
	s, err := spec.Parse("specs/auth.md", []byte(loginSpec))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Title, "|", s.Verify, "|", s.Paths)
	for _, st := range s.Status() {
		fmt.Println(st.ID, st.State, st.WaitingOn)
	}
	// Output:
	// Auth | go test ./auth/... | [auth/**]
	// auth-1 done []
	// auth-2 blocked [auth-3]
	// auth-3 open []
	// auth-4 blocked [auth-2]
}

func ExampleSpec_Next() {
	s, _ := spec.Parse("specs/auth.md", []byte(loginSpec))
	o, ok := s.Next()
	if !ok {
		fmt.Println("nothing left: neutral")
		return
	}
	fmt.Printf("%s %q under %s, line %d, child of %s\n",
		o.ID, o.Text, strings.Join(o.Headings, " > "), o.Line, o.Parent)
	// Output:
	// auth-3 "Render the form" under Auth > Login, line 11, child of auth-2
}

func ExampleTick() {
	src := []byte("# Auth\r\n- [ ] [auth-1] Add the users table\r\n- [ ] Log out\r\n")
	out, err := spec.Tick("specs/auth.md", src, "auth-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q\n", out)
	// Output:
	// "# Auth\r\n- [x] [auth-1] Add the users table\r\n- [ ] Log out\r\n"
}

func ExampleLint() {
	src := "- [ ] [a] One (after: b)\n- [ ] [b] Two (after: a)\n- [ ] [a] Three\n"
	for _, err := range spec.Lint("specs/bad.md", []byte(src)) {
		fmt.Println(err)
	}
	// Output:
	// specs/bad.md:1: dependency cycle: a -> b -> a
	// specs/bad.md:3: duplicate id "a" (first at line 1)
}

func ExampleParseIssue() {
	s, _ := spec.ParseIssue(42, "Support SSO", "Add SAML login for the enterprise plan.")
	o, _ := s.Next()
	fmt.Println(o.ID, "-", o.Text)
	// Output:
	// issue-42 - Support SSO
}

func ExampleMatch() {
	fmt.Println(spec.Match([]string{spec.DefaultGlob}, "specs/auth/login.md"))
	fmt.Println(spec.Match([]string{spec.DefaultGlob}, "docs/login.md"))
	// Output:
	// true
	// false
}

// A Kiro tasks.md, read in place: numbered tasks are ids, "2.1" is a child
// of "2." though written flat, "- [ ]*" is optional and "- [-]" in progress.
func ExampleParse_kiro() {
	const tasks = `# Implementation Plan

- [x] 1. Set up the project
- [ ] 2. Storage
- [-] 2.1 Create the schema
- [ ]* 2.2 Write property tests
- [ ] 2.3 Persist widgets
  - Use one table
  - _Requirements: 1.1, 1.2_
`
	s, _ := spec.Parse(".kiro/specs/widgets/tasks.md", []byte(tasks))
	fmt.Println(s.Format)
	for _, st := range s.Status() {
		fmt.Println(strings.TrimSpace(st.ID + " " + string(st.State) + " " + st.Parent))
	}
	o, _ := s.Next()
	fmt.Println("next:", o.ID, o.Text, o.Requirements, o.Details[0])
	// Output:
	// kiro
	// 1 done
	// 2 blocked
	// 2.1 in_progress 2
	// 2.2 optional 2
	// 2.3 open 2
	// next: 2.3 Persist widgets [1.1 1.2] - Use one table
}

// A Spec Kit task: the code is the id, [P] and [US1] are tags, and
// "(depends on …)" orders the work.
func ExampleParse_specKit() {
	const tasks = `---
description: "Task list for widgets"
---
## Phase 1: Setup

- [X] T001 Create the project
- [ ] T003 [US1] List widgets (depends on T002)
- [ ] T002 [P] [US1] Persist widgets
`
	s, _ := spec.Parse("specs/001-widgets/tasks.md", []byte(tasks))
	fmt.Println(s.Format, len(s.Warnings), "warning:", s.Warnings[0].Msg)
	o, _ := s.Next()
	fmt.Println("next:", o.ID, o.Tags, o.Text)
	out, _ := s.Tick(o.ID)
	fmt.Print(string(out[len(out)-37:]))
	// Output:
	// spec-kit 1 warning: front matter: unknown key "description" ignored (specloop reads verify, require, paths, after, title, plan)
	// next: T002 [P US1] Persist widgets
	// - [X] T002 [P] [US1] Persist widgets
}
