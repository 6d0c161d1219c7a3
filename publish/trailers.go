package publish

import (
	"fmt"
	"strings"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/state"
)

// Trailer is one "Key: value" line at the end of a commit message, in the
// format git interpret-trailers reads.
type Trailer struct {
	Key, Value string
}

// Trailer keys on every commit specloop makes.
const (
	TrailerRun        = "Specloop-Run"
	TrailerObligation = "Specloop-Obligation"
	TrailerVerify     = "Specloop-Verify"
	TrailerRedGreen   = "Specloop-Red-Green"
	TrailerAudit      = "Specloop-Audit"
	TrailerTokens     = "Specloop-Tokens"
)

// Trailers are a cycle's evidence in brief, for its commit: which run and
// obligation, the verify counts (and red → green when known), the audit
// verdict with its finding counts, and the tokens the agent passes
// reported. run names the run ("12", or "local").
func Trailers(run string, res *cycle.Result) []Trailer {
	t := []Trailer{{TrailerRun, run}}
	if res.Obligation != nil {
		t = append(t, Trailer{TrailerObligation, res.Obligation.ID})
	}
	t = append(t, Trailer{TrailerVerify, verifyTrailer(res)})
	if v := res.Verify; v.RedGreen() {
		t = append(t, Trailer{TrailerRedGreen, fmt.Sprintf("%d newly passing, %d regressions, %d unchanged failures",
			len(v.Compare.NewlyPassing), len(v.Compare.Regressions), len(v.Compare.StillFailing))})
	}
	t = append(t, Trailer{TrailerAudit, auditTrailer(res)}, Trailer{TrailerTokens, tokensTrailer(res)})
	return t
}

func verifyTrailer(res *cycle.Result) string {
	v := res.Verify
	switch {
	case v == nil || v.After == nil:
		return "not run"
	case v.After.Error != "":
		return "could not run"
	case v.After.TimedOut:
		return "timed out"
	case !v.After.Counted:
		return fmt.Sprintf("exit %d, counts not recognised", v.After.ExitCode)
	}
	s := fmt.Sprintf("%d passed, %d failed", v.After.Passed, v.After.Failed)
	if v.After.Skipped > 0 {
		s += fmt.Sprintf(", %d skipped", v.After.Skipped)
	}
	return s
}

func auditTrailer(res *cycle.Result) string {
	a := res.Step(cycle.StepAudit)
	if a == nil {
		return "not run"
	}
	verdict := map[state.Conclusion]string{state.Success: "pass", state.Failure: "fail", state.Skipped: "skipped"}[a.Conclusion]
	if verdict == "" {
		verdict = string(a.Conclusion)
	}
	failing, warnings := 0, 0
	for _, f := range a.Findings {
		switch f.Severity {
		case agent.SeverityFailure:
			failing++
		case agent.SeverityWarning:
			warnings++
		}
	}
	return fmt.Sprintf("%s, %d failing, %d warning findings (%d from the test-weakening check)", verdict, failing, warnings, len(res.Weakening))
}

func tokensTrailer(res *cycle.Result) string {
	if res.Tokens == nil {
		return "not reported"
	}
	return fmt.Sprintf("%d (%d in, %d out)", res.Tokens.Total, res.Tokens.Input, res.Tokens.Output)
}

// trailerBlock renders trailers as the message's last paragraph; values
// are kept to one line.
func trailerBlock(ts []Trailer) string {
	if len(ts) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n\n")
	for _, t := range ts {
		fmt.Fprintf(&b, "%s: %s\n", t.Key, strings.Join(strings.Fields(t.Value), " "))
	}
	return strings.TrimSuffix(b.String(), "\n")
}
