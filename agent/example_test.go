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
