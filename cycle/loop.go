package cycle

import (
	"fmt"
	"strings"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
)

// The engine's side of closing the loop: fix cycles, questions to a human
// and the notes an agent leaves for the next cycle.

// FixObligationID names the obligation of a fix cycle that has none to
// stand on (a run whose cycles never selected one).
const FixObligationID = "fix"

// maxQuestion caps a question as the check run and the comment show it.
const maxQuestion = 8 << 10

// fixObligation is the context of a fix cycle: the pinned obligation even
// when it is done (a fix reopens nothing), else a stand-in.
func fixObligation(in Input) *spec.Obligation {
	if in.PinnedID != "" {
		if ob := in.Spec.Obligation(in.PinnedID); ob != nil {
			return ob
		}
	}
	return &spec.Obligation{ID: FixObligationID, Text: "the fix requested on the pull request", Box: -1}
}

// fixWhat names a fix's source for summaries.
func fixWhat(f *agent.Fix) string {
	switch f.Source {
	case agent.FixReview:
		return "the review"
	case agent.FixCI:
		return "the failing CI"
	}
	return "the requested fix"
}

func noChange(f *agent.Fix) string {
	if f == nil {
		return "The agent made no change; nothing was pushed."
	}
	return fmt.Sprintf("The agent made no change for %s; nothing was pushed.", fixWhat(f))
}

func fixDone(f *agent.Fix) string {
	return fmt.Sprintf("Fix for %s pushed; no obligation was ticked.", fixWhat(f))
}

// readScratch reads a file the agent wrote under ScratchDir; "" when it
// wrote none.
func (p *pass) readScratch(rel string) string {
	b, err := p.wd.ReadFile(rel)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// askedQuestion reads the question the agent left, if its run ended well
// enough to count it, and shows it on the implement evidence.
func (p *pass) askedQuestion(impl *Evidence, out *agent.Outcome, err error) string {
	if err != nil || out == nil || out.Cancelled || out.TimedOut {
		return ""
	}
	q := p.readScratch(agent.QuestionFile)
	if q == "" {
		return ""
	}
	q = headCapString(q, maxQuestion)
	impl.Conclusion, impl.Title = state.ActionRequired, "The agent asks a question"
	impl.Summary += "\n**The agent asks:**\n\n" + QuoteMarkdown(q) + "\n\n" + HowToAnswer + "\n"
	return q
}

// HowToAnswer tells a maintainer how to answer a question.
const HowToAnswer = "Answer with `/loop answer <your answer>` on the pull request (or the issue), or reply quoting the question; " +
	"the next cycle works on the same obligation with the question and your answer."

// AskedSummary starts the summary of a cycle that ended with a question.
const AskedSummary = "The agent asked a question; nothing was pushed."

// concludeQuestion ends the cycle waiting for a human: nothing is pushed.
func (p *pass) concludeQuestion(q string) {
	p.res.Question = q
	p.conclude(state.ActionRequired, AskedSummary+" "+HowToAnswer)
}

// auditQuestion reads a question the auditor left instead of a verdict.
func (p *pass) auditQuestion(ev *Evidence) bool {
	q := p.readScratch(agent.QuestionFile)
	if q == "" {
		return false
	}
	q = headCapString(q, maxQuestion)
	ev.Conclusion, ev.Title = state.ActionRequired, "The auditor asks a question"
	ev.Summary = "**The auditor asks:**\n\n" + QuoteMarkdown(q) + "\n\n" + HowToAnswer + "\n"
	p.concludeQuestion(q)
	return true
}

// readNotes reads the notes the agents left, capped.
func (p *pass) readNotes() []byte {
	n := p.readScratch(agent.NotesFile)
	if n == "" {
		return nil
	}
	return []byte(headCapString(n, 16<<10))
}

// QuoteMarkdown writes s as a Markdown block quote.
func QuoteMarkdown(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight("> "+l, " ")
	}
	return strings.Join(lines, "\n")
}

func headCapString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "\n[…]"
}
