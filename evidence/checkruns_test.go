package evidence_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/spec"
	"github.com/specloop/specloop/state"
)

const runPage = "https://specloop.example/runs/7"

// annotations makes n annotations on lines 1..n of one file.
func annotations(n int) []*github.CheckRunAnnotation {
	var out []*github.CheckRunAnnotation
	for i := range n {
		out = append(out, &github.CheckRunAnnotation{
			Path: github.String("a.go"), StartLine: github.Int(i + 1), EndLine: github.Int(i + 1),
			AnnotationLevel: github.String("warning"), Message: github.String(fmt.Sprint("note ", i+1)),
		})
	}
	return out
}

// findings makes n findings, each in its own file.
func findings(n int) []agent.Finding {
	var out []agent.Finding
	for i := range n {
		out = append(out, agent.Finding{File: fmt.Sprintf("pkg/f%03d.go", i), Line: i + 1, Message: fmt.Sprint("finding ", i), Severity: "failure"})
	}
	return out
}

func TestCreate(t *testing.T) {
	t.Parallel()
	g := newGitHub(t)
	long := strings.Repeat("é", evidence.MaxOutput) // 131,070 bytes
	cases := []struct {
		name           string
		run            evidence.Run
		noLink         bool // no details_url
		wantStatus     string
		wantConclusion string
		// wantWrites are the annotation counts of the requests sent.
		wantWrites []int
		check      func(t *testing.T, cr *github.CheckRun)
	}{
		{
			name:       "queued",
			run:        evidence.Run{Status: "queued", Title: "Waiting", Summary: "in line"},
			wantStatus: "queued", wantWrites: []int{0},
		},
		{
			name:       "in_progress",
			run:        evidence.Run{Status: "in_progress", Title: "Running", Summary: "the agent works"},
			wantStatus: "in_progress", wantWrites: []int{0},
		},
		{
			name:       "completed",
			run:        evidence.Run{Status: "completed", Conclusion: state.Success, Title: "Done", Summary: "all good"},
			wantStatus: "completed", wantConclusion: "success", wantWrites: []int{0},
			check: func(t *testing.T, cr *github.CheckRun) {
				require.NotNil(t, cr.CompletedAt)
			},
		},
		{
			name:       "completed action_required",
			run:        evidence.Run{Status: "completed", Conclusion: state.ActionRequired, Title: "A question", Summary: "see the PR"},
			wantStatus: "completed", wantConclusion: "action_required", wantWrites: []int{0},
		},
		{
			name:       "120 annotations in batches",
			run:        evidence.Run{Status: "completed", Conclusion: state.Failure, Title: "Findings", Summary: "many", Annotations: annotations(120)},
			wantStatus: "completed", wantConclusion: "failure", wantWrites: []int{50, 50, 20},
			check: func(t *testing.T, cr *github.CheckRun) {
				got := g.annotations(t, cr.GetID())
				require.Len(t, got, 120)
				for i, a := range got {
					require.Equal(t, i+1, a.GetStartLine(), "in the order given")
					require.Equal(t, fmt.Sprint("note ", i+1), a.GetMessage())
				}
				require.Equal(t, "many", cr.GetOutput().GetSummary(), "later batches keep the output")
			},
		},
		{
			name:       "summary capped with the link",
			run:        evidence.Run{Status: "in_progress", Title: "Long", Summary: long},
			wantStatus: "in_progress", wantWrites: []int{0},
			check: func(t *testing.T, cr *github.CheckRun) {
				s := cr.GetOutput().GetSummary()
				require.LessOrEqual(t, utf8.RuneCountInString(s), evidence.MaxOutput)
				require.True(t, strings.HasPrefix(s, "éé"))
				require.True(t, strings.HasSuffix(s, "… truncated to fit GitHub's 65,535-character limit. Full log: "+runPage), s[len(s)-200:])
			},
		},
		{
			name:   "summary capped without a link",
			run:    evidence.Run{Status: "queued", Title: "Long", Summary: long},
			noLink: true, wantStatus: "queued", wantWrites: []int{0},
			check: func(t *testing.T, cr *github.CheckRun) {
				require.True(t, strings.HasSuffix(cr.GetOutput().GetSummary(), "65,535-character limit."))
				require.Empty(t, cr.GetDetailsURL())
			},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, log := g.app(t)
			r := tc.run
			r.Name = "specloop/" + strings.ReplaceAll(tc.name, " ", "-")
			r.HeadSHA = g.sha
			r.ExternalID = fmt.Sprint("cycle:", i)
			if !tc.noLink {
				r.DetailsURL = runPage
			}
			created, err := evidence.NewCheckRuns(client, owner, repo).Create(t.Context(), r)
			require.NoError(t, err)

			cr := g.checkRun(t, r.Name)
			require.Equal(t, created.GetID(), cr.GetID(), "Create returns the check run as created")
			require.Equal(t, g.sha, cr.GetHeadSHA())
			require.Equal(t, tc.wantStatus, cr.GetStatus())
			require.Equal(t, tc.wantConclusion, cr.GetConclusion())
			require.Equal(t, r.ExternalID, cr.GetExternalID())
			require.Equal(t, r.DetailsURL, cr.GetDetailsURL())
			require.Equal(t, r.Title, cr.GetOutput().GetTitle())
			if len(r.Summary) <= evidence.MaxOutput {
				require.Equal(t, r.Summary, cr.GetOutput().GetSummary())
			}
			require.Equal(t, len(r.Annotations), cr.GetOutput().GetAnnotationsCount())
			require.Equal(t, tc.wantWrites, log.checkRunWrites())
			if tc.check != nil {
				tc.check(t, cr)
			}
		})
	}
}

func TestCreateRefusesInvalidConclusion(t *testing.T) {
	t.Parallel()
	g := newGitHub(t)
	cases := []struct {
		name       string
		conclusion state.Conclusion
	}{
		{"missing", ""},
		{"unknown", "passed"},
		{"GitHub's but not specloop's", "stale"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, log := g.app(t)
			name := "specloop/" + strings.ReplaceAll(tc.name, " ", "-")
			_, err := evidence.NewCheckRuns(client, owner, repo).Create(t.Context(), evidence.Run{
				Name: name, HeadSHA: g.sha, Status: "completed", Conclusion: tc.conclusion, Title: "t", Summary: "s",
			})
			require.EqualError(t, err, fmt.Sprintf("create check run %s: %q is not a conclusion", name, tc.conclusion))
			require.Empty(t, log.checkRunWrites(), "nothing is sent")
			require.Empty(t, g.checkRuns(t, name), "nothing is created")
		})
	}
	// A conclusion means nothing until the run completes: a queued run
	// ignores it.
	client, _ := g.app(t)
	_, err := evidence.NewCheckRuns(client, owner, repo).Create(t.Context(), evidence.Run{
		Name: "specloop/queued", HeadSHA: g.sha, Status: "queued", Conclusion: "passed", Title: "t", Summary: "s",
	})
	require.NoError(t, err)
	require.Equal(t, "queued", g.checkRun(t, "specloop/queued").GetStatus())
}

func TestStart(t *testing.T) {
	t.Parallel()
	g := newGitHub(t)
	capped := strings.Repeat("x", evidence.MaxOutput-len("\n\n… truncated to fit GitHub's 65,535-character limit.")) +
		"\n\n… truncated to fit GitHub's 65,535-character limit."
	cases := []struct {
		name, summary, want string
	}{
		{"short", "The agent is working on `a-1`.", "The agent is working on `a-1`."},
		{"long", strings.Repeat("x", 2*evidence.MaxOutput), capped},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, _ := g.app(t)
			checks := evidence.NewCheckRuns(client, owner, repo)
			name := "specloop/implement-" + tc.name
			cr, err := checks.Create(t.Context(), evidence.Run{Name: name, HeadSHA: g.sha, Status: "queued", Title: "Queued", Summary: "waiting", DetailsURL: runPage})
			require.NoError(t, err)
			require.Equal(t, "queued", g.checkRun(t, name).GetStatus())

			require.NoError(t, checks.Start(t.Context(), cr.GetID(), name, "Implementing a-1", tc.summary))
			got := g.checkRun(t, name)
			require.Equal(t, "in_progress", got.GetStatus())
			require.Empty(t, got.GetConclusion())
			require.Nil(t, got.CompletedAt)
			require.Equal(t, "Implementing a-1", got.GetOutput().GetTitle())
			require.Equal(t, tc.want, got.GetOutput().GetSummary())
			require.Equal(t, runPage, got.GetDetailsURL(), "what Start does not name stays")
		})
	}
}

func TestCompleteStep(t *testing.T) {
	t.Parallel()
	g := newGitHub(t)
	link := runPage + "#verify"
	linkNote := "\n\nFull logs: [run page](" + link + ")"
	capNote := "… truncated to fit GitHub's 65,535-character limit. Full log: " + link
	long := strings.Repeat("log line\n", 8000) // 72,000 characters
	cases := []struct {
		name       string
		ev         cycle.Evidence
		wantWrites []int
		check      func(t *testing.T, cr *github.CheckRun, got []*github.CheckRunAnnotation)
	}{
		{
			name: "success with text",
			ev: cycle.Evidence{Step: "implement", Conclusion: state.Success, Title: "2 files changed",
				Summary: "`a-1` done", Text: "```\nagent log tail\n```"},
			wantWrites: []int{0},
			check: func(t *testing.T, cr *github.CheckRun, got []*github.CheckRunAnnotation) {
				require.Equal(t, "`a-1` done"+linkNote, cr.GetOutput().GetSummary())
				require.Equal(t, "```\nagent log tail\n```", cr.GetOutput().GetText())
				require.Empty(t, got)
			},
		},
		{
			name:       "failure without text",
			ev:         cycle.Evidence{Step: "verify", Conclusion: state.Failure, Title: "`go test ./...` exited 1", Summary: "3 failed"},
			wantWrites: []int{0},
			check: func(t *testing.T, cr *github.CheckRun, _ []*github.CheckRunAnnotation) {
				require.Equal(t, "3 failed"+linkNote, cr.GetOutput().GetSummary())
				require.Empty(t, cr.GetOutput().GetText())
			},
		},
		{
			name:       "120 findings in batches of 50",
			ev:         cycle.Evidence{Step: "audit", Conclusion: state.Failure, Title: "fail", Summary: "120 findings", Text: "details", Findings: findings(120)},
			wantWrites: []int{50, 50, 20},
			check: func(t *testing.T, cr *github.CheckRun, got []*github.CheckRunAnnotation) {
				require.Len(t, got, 120)
				for i, a := range got {
					require.Equal(t, fmt.Sprintf("pkg/f%03d.go", i), a.GetPath(), "in order, none twice")
					require.Equal(t, i+1, a.GetStartLine())
					require.Equal(t, i+1, a.GetEndLine())
					require.Equal(t, "failure", a.GetAnnotationLevel())
					require.Equal(t, fmt.Sprint("finding ", i), a.GetMessage())
				}
				require.Equal(t, 120, cr.GetOutput().GetAnnotationsCount())
				require.Equal(t, "120 findings"+linkNote, cr.GetOutput().GetSummary(), "later batches keep the output")
				require.Equal(t, "details", cr.GetOutput().GetText())
				require.Equal(t, "failure", cr.GetConclusion(), "later batches keep the conclusion")
			},
		},
		{
			name: "levels and whole-file findings",
			ev: cycle.Evidence{Step: "review", Conclusion: state.Neutral, Title: "notes", Summary: "s", Findings: []agent.Finding{
				{File: "a.go", Line: 3, Message: "w", Severity: "warning"},
				{File: "b.go", Line: 0, Message: "whole file", Severity: "notice"},
				{File: "c.go", Line: 9, Message: "f", Severity: "failure"},
				{File: "d.go", Line: 2, Message: "unknown severity", Severity: "critical"},
			}},
			wantWrites: []int{4},
			check: func(t *testing.T, _ *github.CheckRun, got []*github.CheckRunAnnotation) {
				require.Len(t, got, 4)
				var levels []string
				for _, a := range got {
					levels = append(levels, a.GetAnnotationLevel())
				}
				require.Equal(t, []string{"warning", "notice", "failure", "failure"}, levels)
				require.Equal(t, 1, got[1].GetStartLine(), "a whole-file finding goes on line 1")
				require.Equal(t, "whole file", got[1].GetMessage())
			},
		},
		{
			name:       "summary and text capped",
			ev:         cycle.Evidence{Step: "log", Conclusion: state.TimedOut, Title: "timed out", Summary: long, Text: long},
			wantWrites: []int{0},
			check: func(t *testing.T, cr *github.CheckRun, _ []*github.CheckRunAnnotation) {
				for _, s := range []string{cr.GetOutput().GetSummary(), cr.GetOutput().GetText()} {
					require.LessOrEqual(t, utf8.RuneCountInString(s), evidence.MaxOutput)
					require.True(t, strings.HasPrefix(s, "log line\n"))
					require.True(t, strings.HasSuffix(s, capNote), "the cut points at the full log")
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, log := g.app(t)
			checks := evidence.NewCheckRuns(client, owner, repo)
			name := "specloop/" + tc.ev.Step
			cr, err := checks.Create(t.Context(), evidence.Run{Name: name, HeadSHA: g.sha, Status: "in_progress", Title: "Running", Summary: "…"})
			require.NoError(t, err)

			ev := tc.ev
			require.NoError(t, checks.CompleteStep(t.Context(), cr.GetID(), &ev, link))
			got := g.checkRun(t, name)
			require.Equal(t, "completed", got.GetStatus())
			require.Equal(t, string(tc.ev.Conclusion), got.GetConclusion())
			require.NotNil(t, got.CompletedAt)
			require.Equal(t, tc.ev.Title, got.GetOutput().GetTitle())
			require.Equal(t, append([]int{0}, tc.wantWrites...), log.checkRunWrites(), "the create, then the completion and its batches")
			for i, sent := range log.texts()[1:] {
				require.Equal(t, tc.ev.Text != "", sent, "request %d sends a text only when the step has one", i+1)
			}
			tc.check(t, got, g.annotations(t, cr.GetID()))

			// The "Next cycle" button is there to press; nothing else is.
			require.NoError(t, g.emu.RequestAction(owner, repo, cr.GetID(), evidence.ActionNext, "reviewer"))
			require.Error(t, g.emu.RequestAction(owner, repo, cr.GetID(), "retry", "reviewer"))
		})
	}
}

func TestCompleteStepRefusesInvalidConclusion(t *testing.T) {
	t.Parallel()
	g := newGitHub(t)
	client, log := g.app(t)
	checks := evidence.NewCheckRuns(client, owner, repo)
	cr, err := checks.Create(t.Context(), evidence.Run{Name: "specloop/verify", HeadSHA: g.sha, Status: "in_progress", Title: "Running", Summary: "…"})
	require.NoError(t, err)
	err = checks.CompleteStep(t.Context(), cr.GetID(), &cycle.Evidence{Step: "verify", Conclusion: "passed", Title: "t", Summary: "s"}, runPage)
	require.EqualError(t, err, `complete check run specloop/verify: "passed" is not a conclusion`)
	require.Equal(t, []int{0}, log.checkRunWrites(), "only the create was sent")
	require.Equal(t, "in_progress", g.checkRun(t, "specloop/verify").GetStatus())
}

func TestComplete(t *testing.T) {
	t.Parallel()
	g := newGitHub(t)
	cases := []struct {
		conclusion state.Conclusion
		summary    string
		want       string
	}{
		{state.Cancelled, "Stopped by `/loop stop`.", "Stopped by `/loop stop`."},
		{state.TimedOut, "The worker's lease ran out.", "The worker's lease ran out."},
		{state.Skipped, "", ""},
		{state.Failure, strings.Repeat("x", evidence.MaxOutput+1), strings.Repeat("x", evidence.MaxOutput-len("\n\n… truncated to fit GitHub's 65,535-character limit.")) +
			"\n\n… truncated to fit GitHub's 65,535-character limit."},
	}
	for _, tc := range cases {
		t.Run(string(tc.conclusion), func(t *testing.T) {
			t.Parallel()
			client, _ := g.app(t)
			checks := evidence.NewCheckRuns(client, owner, repo)
			name := "specloop/" + string(tc.conclusion)
			cr, err := checks.Create(t.Context(), evidence.Run{Name: name, HeadSHA: g.sha, Status: "queued", Title: "Queued", Summary: "…"})
			require.NoError(t, err)
			title := "Cycle ended: " + string(tc.conclusion)
			require.NoError(t, checks.Complete(t.Context(), cr.GetID(), name, tc.conclusion, title, tc.summary))

			got := g.checkRun(t, name)
			require.Equal(t, "completed", got.GetStatus())
			require.Equal(t, string(tc.conclusion), got.GetConclusion())
			require.NotNil(t, got.CompletedAt)
			require.Equal(t, title, got.GetOutput().GetTitle())
			require.Equal(t, tc.want, got.GetOutput().GetSummary())
			require.Zero(t, got.GetOutput().GetAnnotationsCount())
		})
	}

	t.Run("invalid conclusion", func(t *testing.T) {
		t.Parallel()
		client, log := g.app(t)
		checks := evidence.NewCheckRuns(client, owner, repo)
		cr, err := checks.Create(t.Context(), evidence.Run{Name: "specloop/invalid", HeadSHA: g.sha, Status: "queued", Title: "Queued", Summary: "…"})
		require.NoError(t, err)
		err = checks.Complete(t.Context(), cr.GetID(), "specloop/invalid", "crashed", "t", "s")
		require.EqualError(t, err, `complete check run specloop/invalid: "crashed" is not a conclusion`)
		require.Equal(t, []int{0}, log.checkRunWrites())
		require.Equal(t, "queued", g.checkRun(t, "specloop/invalid").GetStatus())
	})
}

// TestGitHubFailures: a request GitHub fails surfaces as an error that
// names the check run and keeps GitHub's answer, and leaves the check run
// as it was.
func TestGitHubFailures(t *testing.T) {
	t.Parallel()
	const patch = "/repos/{owner}/{repo}/check-runs/{id}"
	cases := []struct {
		name     string
		fault    emulator.Fault
		queued   bool // a check run exists before the call
		call     func(t *testing.T, c *evidence.CheckRuns, g *gh, id int64) error
		wantErr  string
		wantCode int  // GitHub's status, kept in the error
		limited  bool // a secondary rate limit instead, told apart
		after    func(t *testing.T, g *gh)
	}{
		{
			name:  "create",
			fault: emulator.Fault{Method: "POST", Path: "/repos/{owner}/{repo}/check-runs", Status: http.StatusInternalServerError},
			call: func(t *testing.T, c *evidence.CheckRuns, g *gh, _ int64) error {
				_, err := c.Create(t.Context(), evidence.Run{Name: "specloop/implement", HeadSHA: g.sha, Status: "queued", Title: "t", Summary: "s"})
				return err
			},
			wantErr: "create check run specloop/implement: ", wantCode: http.StatusInternalServerError,
			after: func(t *testing.T, g *gh) { require.Empty(t, g.checkRuns(t, "specloop/implement")) },
		},
		{
			name:  "annotation batch of a create",
			fault: emulator.Fault{Method: "PATCH", Path: patch, Status: http.StatusBadGateway},
			call: func(t *testing.T, c *evidence.CheckRuns, g *gh, _ int64) error {
				cr, err := c.Create(t.Context(), evidence.Run{Name: "specloop/verify", HeadSHA: g.sha, Status: "completed",
					Conclusion: state.Failure, Title: "t", Summary: "s", Annotations: annotations(51)})
				require.NotNil(t, cr, "the check run exists and is returned")
				return err
			},
			wantErr: "annotate specloop/verify check run: ", wantCode: http.StatusBadGateway,
			after: func(t *testing.T, g *gh) {
				cr := g.checkRun(t, "specloop/verify")
				require.Len(t, g.annotations(t, cr.GetID()), 50, "the first batch went with the create")
			},
		},
		{
			name:   "start",
			fault:  emulator.Fault{Method: "PATCH", Path: patch, Status: http.StatusServiceUnavailable},
			queued: true,
			call: func(t *testing.T, c *evidence.CheckRuns, _ *gh, id int64) error {
				return c.Start(t.Context(), id, "specloop/step", "t", "s")
			},
			wantErr: "start check run specloop/step: ", wantCode: http.StatusServiceUnavailable,
			after: func(t *testing.T, g *gh) { require.Equal(t, "queued", g.checkRun(t, "specloop/step").GetStatus()) },
		},
		{
			name:   "complete step",
			fault:  emulator.Fault{Method: "PATCH", Path: patch, Status: http.StatusInternalServerError},
			queued: true,
			call: func(t *testing.T, c *evidence.CheckRuns, _ *gh, id int64) error {
				return c.CompleteStep(t.Context(), id, &cycle.Evidence{Step: "step", Conclusion: state.Success, Title: "t", Summary: "s"}, runPage)
			},
			wantErr: "complete check run specloop/step: ", wantCode: http.StatusInternalServerError,
			after: func(t *testing.T, g *gh) { require.Equal(t, "queued", g.checkRun(t, "specloop/step").GetStatus()) },
		},
		{
			name:   "complete",
			fault:  emulator.Fault{Method: "PATCH", Path: patch, Status: http.StatusBadGateway},
			queued: true,
			call: func(t *testing.T, c *evidence.CheckRuns, _ *gh, id int64) error {
				return c.Complete(t.Context(), id, "specloop/step", state.Cancelled, "t", "s")
			},
			wantErr: "complete check run specloop/step: ", wantCode: http.StatusBadGateway,
			after: func(t *testing.T, g *gh) { require.Equal(t, "queued", g.checkRun(t, "specloop/step").GetStatus()) },
		},
		{
			name:   "secondary rate limit",
			fault:  emulator.Fault{Method: "PATCH", Path: patch, Status: http.StatusForbidden},
			queued: true,
			call: func(t *testing.T, c *evidence.CheckRuns, _ *gh, id int64) error {
				return c.Complete(t.Context(), id, "specloop/step", state.Success, "t", "s")
			},
			wantErr: "complete check run specloop/step: ", limited: true,
			after: func(t *testing.T, g *gh) { require.Equal(t, "queued", g.checkRun(t, "specloop/step").GetStatus()) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGitHub(t)
			client, _ := g.app(t)
			checks := evidence.NewCheckRuns(client, owner, repo)
			var id int64
			if tc.queued {
				cr, err := checks.Create(t.Context(), evidence.Run{Name: "specloop/step", HeadSHA: g.sha, Status: "queued", Title: "Queued", Summary: "…"})
				require.NoError(t, err)
				id = cr.GetID()
			}
			_, err := g.emu.Inject(tc.fault)
			require.NoError(t, err)

			err = tc.call(t, checks, g, id)
			require.ErrorContains(t, err, tc.wantErr)
			if tc.limited {
				var limited *github.AbuseRateLimitError
				require.True(t, errors.As(err, &limited), "a secondary rate limit is told apart: %v", err)
				require.NotNil(t, limited.RetryAfter)
			} else {
				var resp *github.ErrorResponse
				require.True(t, errors.As(err, &resp), "GitHub's answer is kept: %v", err)
				require.Equal(t, tc.wantCode, resp.Response.StatusCode)
			}
			g.emu.ClearFaults()
			tc.after(t, g)
		})
	}
}

func TestSpecCheckPosted(t *testing.T) {
	t.Parallel()
	g := newGitHub(t)
	parse := func(path, src string) *spec.Spec {
		s, err := spec.Parse(path, []byte(src))
		require.NoError(t, err)
		return s
	}
	a := parse("specs/a.md", "# A\n\n- [x] [a-1] done | piped\n- [ ] [a-2] open\n- [ ] [a-3] later (after: a-2)\n")
	b := parse("specs/b.md", "- [x] [b-1] all there is\n")
	problems := spec.Lint("specs/c.md", []byte("- [ ] [c] one\n- [ ] [c] two\n- [ ] [d] x (after: q)\n"))
	require.Len(t, problems, 2)

	cases := []struct {
		name           string
		specs          []*spec.Spec
		problems       []*spec.Error
		wantConclusion string
		wantTitle      string
		wantSummary    []string
	}{
		{
			name: "clean", specs: []*spec.Spec{a, b}, wantConclusion: "success", wantTitle: "2 done, 1 open, 1 blocked",
			wantSummary: []string{
				"### `specs/a.md`\n\n| state | id | obligation |\n| --- | --- | --- |\n" +
					"| :white_check_mark: done | `a-1` | done \\| piped |\n" +
					"| :white_circle: open | `a-2` | open |\n" +
					"| :no_entry: blocked | `a-3` | later |\n\n**Next:** `a-2` open\n",
				"### `specs/b.md`", "| :white_check_mark: done | `b-1` | all there is |\n\n**Next:** nothing left.",
			},
		},
		{
			name: "problems", specs: []*spec.Spec{b}, problems: problems, wantConclusion: "failure",
			wantTitle: "2 problem(s) in specs; 1 done, 0 open, 0 blocked",
			wantSummary: []string{
				"- :x: `specs/c.md:2`: duplicate id \"c\" (first at line 1)\n",
				"- :x: `specs/c.md:3`: after: unknown id \"q\"\n\n### `specs/b.md`",
			},
		},
		{name: "no specs", wantConclusion: "success", wantTitle: "0 done, 0 open, 0 blocked"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, _ := g.app(t)
			run := evidence.SpecCheck(g.sha, tc.specs, tc.problems)
			run.Name += "-" + strings.ReplaceAll(tc.name, " ", "-") // one per case on the one commit
			_, err := evidence.NewCheckRuns(client, owner, repo).Create(t.Context(), run)
			require.NoError(t, err)

			cr := g.checkRun(t, run.Name)
			require.True(t, strings.HasPrefix(cr.GetName(), "specloop/spec-"))
			require.Equal(t, "completed", cr.GetStatus())
			require.Equal(t, tc.wantConclusion, cr.GetConclusion())
			require.Equal(t, tc.wantTitle, cr.GetOutput().GetTitle())
			for _, s := range tc.wantSummary {
				require.Contains(t, cr.GetOutput().GetSummary(), s)
			}
			got := g.annotations(t, cr.GetID())
			require.Len(t, got, len(tc.problems))
			for i, p := range tc.problems {
				require.Equal(t, p.Path, got[i].GetPath())
				require.Equal(t, p.Line, got[i].GetStartLine())
				require.Equal(t, "failure", got[i].GetAnnotationLevel())
				require.Equal(t, p.Msg, got[i].GetMessage())
			}
		})
	}
	require.Equal(t, "specloop/spec", evidence.SpecCheck(g.sha, nil, nil).Name, "the name users see")
}

func TestConfigCheckPosted(t *testing.T) {
	t.Parallel()
	g := newGitHub(t)
	client, _ := g.app(t)
	_, perr := repoconfig.Parse([]byte("agent:\n  preset: claude\nbogus: 1\n"))
	require.Error(t, perr)

	_, err := evidence.NewCheckRuns(client, owner, repo).Create(t.Context(), evidence.ConfigCheck(g.sha, perr))
	require.NoError(t, err)
	cr := g.checkRun(t, "specloop/config")
	require.Equal(t, "completed", cr.GetStatus())
	require.Equal(t, "failure", cr.GetConclusion())
	require.Equal(t, ".github/specloop.yml does not parse", cr.GetOutput().GetTitle())
	require.Equal(t, "specloop does nothing in this repo until its config is fixed.\n\n```\n"+perr.Error()+"\n```", cr.GetOutput().GetSummary())
	require.Contains(t, perr.Error(), "line 3", "the summary says where")
}
