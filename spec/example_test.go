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
