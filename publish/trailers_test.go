package publish_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/publish"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/verify"
)

// TestTrailers: every commit message ends with the Specloop-* trailers,
// in the format git interpret-trailers reads back.
func TestTrailers(t *testing.T) {
	t.Parallel()
	sp := parseSpec(t, "specs/a.md", "- [ ] [a-1] Add the login form\n")
	tests := []struct {
		name string
		res  *cycle.Result
		want string
	}{
		{
			name: "verified red → green, audited with a warning, tokens",
			res: &cycle.Result{
				Obligation: sp.Obligations[0],
				Verify: &cycle.VerifyRecord{Command: "go test -json ./...",
					Before:  &cycle.VerifyRun{Passed: 40, Failed: 1, Counted: true, Tests: verify.Results{Format: verify.FormatGoJSON}},
					After:   &cycle.VerifyRun{Passed: 41, Counted: true, Tests: verify.Results{Format: verify.FormatGoJSON}},
					Compare: verify.Comparison{NewlyPassing: []string{"x.TestLogin"}}},
				Steps: []*cycle.Evidence{{Step: cycle.StepAudit, Conclusion: state.Success,
					Findings: []agent.Finding{{File: "a_test.go", Line: 3, Severity: agent.SeverityWarning, Message: "expected value edited"}}}},
				Weakening: []agent.Finding{{File: "a_test.go", Line: 3, Severity: agent.SeverityWarning, Message: "expected value edited"}},
				Tokens:    &agent.Usage{Input: 1200, Output: 300, Total: 1500},
			},
			want: "Specloop-Run: 12\nSpecloop-Obligation: a-1\nSpecloop-Verify: 41 passed, 0 failed\n" +
				"Specloop-Red-Green: 1 newly passing, 0 regressions, 0 unchanged failures\n" +
				"Specloop-Audit: pass, 0 failing, 1 warning findings (1 from the test-weakening check)\nSpecloop-Tokens: 1500 (1200 in, 300 out)\n",
		},
		{
			name: "no verify command, audit off, no tokens",
			res: &cycle.Result{Obligation: sp.Obligations[0],
				Steps: []*cycle.Evidence{{Step: cycle.StepAudit, Conclusion: state.Skipped}}},
			want: "Specloop-Run: 12\nSpecloop-Obligation: a-1\nSpecloop-Verify: not run\nSpecloop-Audit: skipped, 0 failing, 0 warning findings (0 from the test-weakening check)\nSpecloop-Tokens: not reported\n",
		},
		{
			name: "counts not recognised",
			res: &cycle.Result{Obligation: sp.Obligations[0],
				Verify: &cycle.VerifyRecord{Command: "make check", After: &cycle.VerifyRun{ExitCode: 2}}},
			want: "Specloop-Run: 12\nSpecloop-Obligation: a-1\nSpecloop-Verify: exit 2, counts not recognised\nSpecloop-Audit: not run\nSpecloop-Tokens: not reported\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &publish.Change{Spec: sp, Obligation: sp.Obligations[0], Conclusion: state.Success, Context: "cycle 4 of run 12",
				Trailers: publish.Trailers("12", tc.res)}
			msg := publish.Message(c)
			require.True(t, strings.HasPrefix(msg, "specloop: a-1 Add the login form\n\nObligation a-1 of specs/a.md (success), cycle 4 of run 12.\n\nSpecloop-Run: 12\n"), msg)
			cmd := exec.Command("git", "interpret-trailers", "--parse")
			cmd.Stdin = strings.NewReader(msg)
			out, err := cmd.Output()
			require.NoError(t, err)
			require.Equal(t, tc.want, string(out))
		})
	}
}
