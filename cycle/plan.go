package cycle

import (
	"fmt"
	"strings"

	"context"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
)

// Planning first: the agent writes the spec's task list instead of code;
// the workers publish it (the issue body, or a task file) and the run
// waits for a maintainer's approval.

// PlanObligationID names the obligation of a planning cycle: the whole
// spec.
const PlanObligationID = "plan"

// IsProse reports whether a spec has no task list: its one obligation is
// the whole spec, which a run plans first.
func IsProse(s *spec.Spec) bool {
	return len(s.Obligations) == 1 && s.Obligations[0].Box < 0
}

// planObligation is what a planning cycle works on: the spec as a whole.
func planObligation(s *spec.Spec) *spec.Obligation {
	section := string(s.Source())
	if IsProse(s) {
		section = s.Obligations[0].Section
	}
	return &spec.Obligation{ID: PlanObligationID, Text: "Plan the work of " + s.Title, Section: section, Box: -1}
}

// HowToApprove tells a maintainer how to let a plan go ahead.
const HowToApprove = "Edit the plan if you like, then comment `/loop approve` or approve the pull request's review: " +
	"each later cycle does one task of the approved list."

// plan runs the agent as a planner and reads the task list it wrote.
func (p *pass) plan(ctx context.Context) {
	p.rep.StepStarted(ctx, StepImplement)
	prompt := agent.Prompt(agent.Implementer, p.pin)
	p.res.Prompts["planner"] = prompt
	out, err := p.runAgent(ctx, agent.Implementer, prompt, p.live(StepImplement))
	ev := implementEvidence(p.res.Obligation, out, err)
	ev.Title = strings.Replace(ev.Title, "The agent finished", "The agent planned", 1)
	var tasks string
	switch {
	case ctx.Err() != nil || (out != nil && out.Cancelled):
		p.conclude(state.Cancelled, "The cycle was stopped while planning; nothing was pushed.")
	case out != nil && out.TimedOut:
		p.conclude(state.TimedOut, "The planner ran past its timeout; nothing was pushed.")
	case ev.Conclusion != state.Success:
		p.conclude(state.Failure, "The planner failed; nothing was pushed. "+ev.Title)
	default:
		var problem string
		tasks, problem = readPlan(p.readScratch(agent.PlanFile))
		if problem != "" {
			ev.Conclusion, ev.Title = state.Failure, "No usable plan"
			ev.Summary += "\n" + problem + "\n"
			p.conclude(state.Failure, problem)
			break
		}
		ev.Conclusion, ev.Title = state.ActionRequired, "A plan waits for approval"
		ev.Summary += "\n**The plan**\n\n" + tasks + "\n\n" + HowToApprove + "\n"
		p.res.Plan = tasks
		p.conclude(state.ActionRequired, "The plan waits for a maintainer's approval. "+HowToApprove)
	}
	p.res.Steps = append(p.res.Steps, ev)
	p.rep.StepFinished(ctx, StepImplement, ev)
}

// readPlan checks the planner's task list: it must parse and hold task
// items. It returns the list or what is wrong with it.
func readPlan(src string) (string, string) {
	if src == "" {
		return "", fmt.Sprintf("The planner wrote no plan to `%s`.", agent.PlanFile)
	}
	s, err := spec.ParseIssue(0, "plan", src)
	if err != nil {
		return "", "The plan is not a valid task list: " + err.Error()
	}
	if IsProse(s) {
		return "", "The plan holds no task items (`- [ ] [id] text`)."
	}
	return src, ""
}
