// The run page's view: a run's cycles as timelines of steps, built from its
// events, cycles, check runs and artifacts.

package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/specloop/specloop/internal/mdhtml"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// runView is everything the run page shows.
type runView struct {
	Run     *store.Run
	Token   string
	Cycles  []*cycleView
	Notes   []store.Event // run-level events (no cycle)
	Pruned  store.Pruned
	LastSeq int64
	Live    bool   // a cycle is queued or running: the page follows it
	Status  string // what the run is doing, in a word or three
	Waiting bool   // the newest cycle asked a question
	Tokens  *store.StepTokens
	// Cost is what the run's model requests cost at the model proxy; empty
	// when none went through it (a plain command, or the agent's own
	// network).
	Cost      string
	Generated time.Time
}

type cycleView struct {
	*store.Cycle
	Steps     []*stepView
	Artifacts []artifactView
	Checks    []store.CheckRun
	Duration  string
	Takeovers []store.Event // "interrupted" events: the cycle moved to another worker
	Verify    *store.StepCounts
	Audit     *stepView
	Tokens    *store.StepTokens
	Diff      []diffLine
	Waiting   bool
	Ahead     int // queued: unfinished cycles of the run before this one
}

type stepView struct {
	Cycle    int64
	Name     string // prepare, select, implement, verify, fix, audit, publish
	Label    string // "fix 1/2"
	Start    time.Time
	End      time.Time // zero while running
	Duration string
	Outcome  string // "" while running
	Messages []string
	Data     *store.StepData
	Summary  template.HTML
	Log      string // the live log as streamed
	LogID    string // element id the live script appends to ("" for an older attempt of the step)
}

func (s *stepView) Running() bool { return s.Outcome == "" }

type artifactView struct {
	store.Artifact
	Text   string
	IsDiff bool
	Size   int
}

type diffLine struct {
	Class, Text string
}

// buildRunView reads a run and everything its page shows.
func buildRunView(ctx context.Context, db store.DB, md *mdhtml.Renderer, run *store.Run, token string) (*runView, error) {
	v := &runView{Run: run, Token: token, Generated: time.Now()}
	var err error
	if v.Pruned, err = store.GetPruned(ctx, db, run.ID); err != nil {
		return nil, err
	}
	cycles, err := store.ListCycles(ctx, db, run.ID)
	if err != nil {
		return nil, err
	}
	byID := map[int64]*cycleView{}
	for _, c := range cycles {
		cv := &cycleView{Cycle: c}
		if cv.Artifacts, err = loadArtifacts(ctx, db, c.ID); err != nil {
			return nil, err
		}
		if cv.Checks, err = store.ListCheckRuns(ctx, db, c.ID); err != nil {
			return nil, err
		}
		if c.StartedAt != nil && c.FinishedAt != nil {
			cv.Duration = roundDur(c.FinishedAt.Sub(*c.StartedAt))
		}
		for _, a := range cv.Artifacts {
			if a.IsDiff {
				cv.Diff = highlightDiff(a.Text)
			}
		}
		cv.Waiting = c.Conclusion == state.ActionRequired
		if c.State == state.CycleQueued {
			if cv.Ahead, err = store.QueuePosition(ctx, db, c); err != nil {
				return nil, err
			}
		}
		if c.State != state.CycleDone {
			v.Live = true
		}
		byID[c.ID] = cv
		v.Cycles = append(v.Cycles, cv)
	}
	// Every event, in pages: a long live log is many events.
	var after int64
	for {
		evs, err := store.ListEvents(ctx, db, run.ID, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if cv := byID[e.CycleID]; cv != nil {
				cv.add(md, e)
			} else if e.Kind != "log" {
				v.Notes = append(v.Notes, e)
			}
			after = e.Seq
		}
		if len(evs) < 1000 {
			break
		}
	}
	v.LastSeq = after
	for _, cv := range v.Cycles {
		cv.finishLogIDs()
		for _, s := range cv.Steps {
			s.Log = capLog(s.Log)
		}
		if cv.Tokens != nil {
			v.Tokens = addTokens(v.Tokens, cv.Tokens)
		}
	}
	if tokens, usd, err := store.RunSpent(ctx, db, run.ID); err != nil {
		return nil, err
	} else if tokens > 0 {
		v.Cost = fmt.Sprintf("$%.4f", usd)
	}
	v.Status = runStatus(v)
	return v, nil
}

func runStatus(v *runView) string {
	for _, c := range v.Cycles {
		if c.State == state.CycleRunning {
			return "running"
		}
	}
	if n := len(v.Cycles); n > 0 {
		last := v.Cycles[n-1]
		switch {
		case last.State == state.CycleQueued:
			return "queued"
		case last.State == state.CycleRunning:
			return "running"
		case last.Conclusion == state.ActionRequired:
			v.Waiting = true
			return "waiting for an answer"
		default:
			return string(last.Conclusion)
		}
	}
	return "no cycles yet"
}

func addTokens(a, b *store.StepTokens) *store.StepTokens {
	if a == nil {
		a = &store.StepTokens{}
	}
	return &store.StepTokens{Input: a.Input + b.Input, Cached: a.Cached + b.Cached, Output: a.Output + b.Output, Total: a.Total + b.Total}
}

// add folds one event into the cycle's timeline.
func (cv *cycleView) add(md *mdhtml.Renderer, e store.Event) {
	switch e.Kind {
	case "cycle":
		if e.Outcome == "interrupted" {
			cv.Takeovers = append(cv.Takeovers, e)
			for _, s := range cv.Steps {
				if s.Running() {
					s.Outcome, s.End = "interrupted", e.CreatedAt
					s.Duration = roundDur(s.End.Sub(s.Start))
				}
			}
		}
		return
	case "log":
		s := cv.open(e.Step)
		if s == nil {
			s = cv.begin(e.Step, e.Step, e.CreatedAt)
		}
		s.Log += e.Message
		return
	case "step":
	default:
		return
	}
	if e.Outcome == "started" {
		label := strings.TrimSuffix(e.Message, " started")
		if e.Step != "fix" {
			label = e.Step
		}
		cv.begin(e.Step, label, e.CreatedAt)
		return
	}
	s := cv.open(e.Step)
	if s == nil {
		// Steps with no start event (prepare, select, publish) began when
		// the one before them ended.
		if last := cv.last(); last != nil && last.Name == e.Step && !last.Running() {
			s = last // publish reports twice: push, then the PR
		} else {
			start := e.CreatedAt
			if last != nil && !last.Running() {
				start = last.End
			} else if cv.StartedAt != nil && len(cv.Steps) == 0 {
				start = *cv.StartedAt
			}
			s = cv.begin(e.Step, e.Step, start)
		}
	}
	s.Outcome, s.End = e.Outcome, e.CreatedAt
	s.Duration = roundDur(s.End.Sub(s.Start))
	if e.Message != "" {
		s.Messages = append(s.Messages, e.Message)
	}
	if len(e.Data) > 0 {
		var d store.StepData
		if json.Unmarshal(e.Data, &d) == nil {
			s.Data = &d
			if d.Summary != "" {
				s.Summary = md.HTML(d.Summary)
			}
			if d.DurationMS > 0 {
				s.Duration = roundDur(time.Duration(d.DurationMS) * time.Millisecond)
			}
			if d.Counts != nil {
				cv.Verify = d.Counts
			}
			if d.Tokens != nil {
				cv.Tokens = addTokens(cv.Tokens, d.Tokens)
			}
			if e.Step == "audit" {
				cv.Audit = s
			}
		}
	}
}

func (cv *cycleView) begin(name, label string, at time.Time) *stepView {
	s := &stepView{Cycle: cv.ID, Name: name, Label: label, Start: at}
	cv.Steps = append(cv.Steps, s)
	return s
}

// open is the newest running step of that name.
func (cv *cycleView) open(name string) *stepView {
	for i := len(cv.Steps) - 1; i >= 0; i-- {
		if s := cv.Steps[i]; s.Name == name && s.Running() {
			return s
		}
	}
	return nil
}

func (cv *cycleView) last() *stepView {
	if len(cv.Steps) == 0 {
		return nil
	}
	return cv.Steps[len(cv.Steps)-1]
}

// finishLogIDs gives the newest step of each name the id the live script
// appends that step's output to.
func (cv *cycleView) finishLogIDs() {
	seen := map[string]bool{}
	for i := len(cv.Steps) - 1; i >= 0; i-- {
		s := cv.Steps[i]
		if !seen[s.Name] {
			seen[s.Name] = true
			s.LogID = fmt.Sprintf("log-%d-%s", cv.ID, s.Name)
		}
	}
}

func loadArtifacts(ctx context.Context, db store.DB, cycleID int64) ([]artifactView, error) {
	list, err := store.ListArtifacts(ctx, db, cycleID)
	if err != nil {
		return nil, err
	}
	out := make([]artifactView, 0, len(list))
	for _, a := range list {
		n := 0 // only the diff is shown at once; the rest loads when opened
		if strings.HasSuffix(a.Name, ".diff") {
			n = inlineCap
		}
		head, size, err := store.ArtifactHead(ctx, db, a.ID, n)
		if err != nil {
			return nil, err
		}
		v := artifactView{Artifact: a, Text: strings.ToValidUTF8(string(head), "\uFFFD"), Size: size, IsDiff: strings.HasSuffix(a.Name, ".diff")}
		if n > 0 && size > len(head) {
			v.Text += fmt.Sprintf("\n[… %d more bytes: download the whole file]\n", size-len(head))
		}
		out = append(out, v)
	}
	return out, nil
}

// inlineCap bounds how much of each artifact, and of each step's live log,
// the page shows inline; the download link has it whole.
const inlineCap = 64 << 10

// capLog keeps the end of a long live log, which matters most.
func capLog(s string) string {
	if len(s) <= inlineCap {
		return s
	}
	cut := len(s) - inlineCap
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return "[… earlier output: see the step's stored log]\n" + s[cut:]
}

// highlightDiff classes each line of a unified diff for colouring.
func highlightDiff(patch string) []diffLine {
	var out []diffLine
	for _, l := range strings.Split(strings.TrimSuffix(patch, "\n"), "\n") {
		class := ""
		switch {
		case strings.HasPrefix(l, "diff --git"), strings.HasPrefix(l, "index "), strings.HasPrefix(l, "+++ "), strings.HasPrefix(l, "--- "),
			strings.HasPrefix(l, "new file"), strings.HasPrefix(l, "deleted file"):
			class = "file"
		case strings.HasPrefix(l, "@@"):
			class = "hunk"
		case strings.HasPrefix(l, "+"):
			class = "add"
		case strings.HasPrefix(l, "-"):
			class = "del"
		}
		out = append(out, diffLine{Class: class, Text: l})
	}
	return out
}

func roundDur(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
