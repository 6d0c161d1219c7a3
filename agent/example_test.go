package agent_test

import (
	"fmt"
	"strings"

	"github.com/specloop/specloop/agent"
)

func ExamplePrompt() {
	p := agent.Prompt(agent.Implementer, agent.PromptInput{
		Obligation: agent.Obligation{ID: "auth-1", Text: "Log in with a token", Headings: []string{"Auth"}},
		SpecPath:   "specs/auth.md",
	})
	// The machine-readable header: everything up to the first blank line
	// after the title.
	header := strings.SplitN(p, "\n\n", 3)[1]
	fmt.Println(header)
	// Output:
	// Specloop-Role: implementer
	// Obligation-ID: auth-1
	// Obligation-Text: Log in with a token
	// Spec-Path: specs/auth.md
}

func ExampleParseTestCounts() {
	out := []byte(`=== RUN   TestLogin
    login_test.go:12: got 401, want 200
--- FAIL: TestLogin (0.00s)
=== RUN   TestLogout
--- PASS: TestLogout (0.00s)
FAIL
FAIL	example.com/auth	0.004s
`)
	c := agent.ParseTestCounts(out)
	fmt.Printf("passed %d, failed %d, skipped %d\n", c.Passed, c.Failed, c.Skipped)
	for _, f := range c.Failing {
		fmt.Printf("%s at %s:%d: %s\n", f.Name, f.File, f.Line, f.Message)
	}
	// Output:
	// passed 1, failed 1, skipped 0
	// TestLogin at login_test.go:12: got 401, want 200
}
