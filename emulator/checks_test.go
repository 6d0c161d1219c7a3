package emulator

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

func annotations(n int) []*github.CheckRunAnnotation {
	var out []*github.CheckRunAnnotation
	for i := range n {
		out = append(out, &github.CheckRunAnnotation{
			Path: github.String("specs/a.md"), StartLine: github.Int(i + 1), EndLine: github.Int(i + 1),
			AnnotationLevel: github.String("warning"), Message: github.String(fmt.Sprint("note ", i)),
		})
	}
	return out
}

func TestCheckRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ref, _, err := b.app.Git.GetRef(ctx, "acme", "widgets", "heads/main")
	require.NoError(t, err)
	sha := ref.GetObject().GetSHA()

	cr, resp, err := b.app.Checks.CreateCheckRun(ctx, "acme", "widgets", github.CreateCheckRunOptions{
		Name: "specloop/cycle", HeadSHA: sha, Status: github.String("in_progress"),
		ExternalID: github.String("cycle-1"),
		Output:     &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s"), Annotations: annotations(2)},
		Actions:    []*github.CheckRunAction{{Label: "Next cycle", Description: "Run the next obligation", Identifier: "next"}},
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, "in_progress", cr.GetStatus())
	require.Equal(t, "specloop", cr.GetApp().GetSlug())

	// Users cannot write check runs.
	_, resp, err = b.maintainer.Checks.CreateCheckRun(ctx, "acme", "widgets", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	upd, _, err := b.app.Checks.UpdateCheckRun(ctx, "acme", "widgets", cr.GetID(), github.UpdateCheckRunOptions{
		Conclusion: github.String("success"),
		Output:     &github.CheckRunOutput{Title: github.String("done"), Summary: github.String("all good"), Annotations: annotations(3)},
	})
	require.NoError(t, err)
	require.Equal(t, "completed", upd.GetStatus())
	require.Equal(t, "success", upd.GetConclusion())
	require.Equal(t, 5, upd.GetOutput().GetAnnotationsCount(), "annotations accumulate")
	runs := b.s.CheckRuns("acme", "widgets")
	require.Len(t, runs, 1)
	require.Len(t, runs[0].GetOutput().Annotations, 5)
	require.Equal(t, "all good", runs[0].GetOutput().GetSummary())
	anns, _, err := b.app.Checks.ListCheckRunAnnotations(ctx, "acme", "widgets", cr.GetID(), nil)
	require.NoError(t, err)
	require.Len(t, anns, 5)

	bad := []struct {
		name string
		opts github.CreateCheckRunOptions
	}{
		{"51 annotations", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s"), Annotations: annotations(51)}}},
		{"long summary", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String(strings.Repeat("a", 65536))}}},
		{"long text", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String("s"), Text: github.String(strings.Repeat("a", 65536))}}},
		{"completed without conclusion", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Status: github.String("completed")}},
		{"bad status", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Status: github.String("running")}},
		{"bad conclusion", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Conclusion: github.String("ok")}},
		{"four actions", github.CreateCheckRunOptions{Name: "x", HeadSHA: sha, Actions: []*github.CheckRunAction{
			{Label: "a", Identifier: "a"}, {Label: "b", Identifier: "b"}, {Label: "c", Identifier: "c"}, {Label: "d", Identifier: "d"}}}},
		{"unknown sha", github.CreateCheckRunOptions{Name: "x", HeadSHA: strings.Repeat("ab", 20)}},
	}
	for _, tc := range bad {
		_, resp, err := b.app.Checks.CreateCheckRun(ctx, "acme", "widgets", tc.opts)
		require.Error(t, err, tc.name)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, tc.name)
	}
	// A summary of exactly the limit is fine.
	_, _, err = b.app.Checks.CreateCheckRun(ctx, "acme", "widgets", github.CreateCheckRunOptions{
		Name: "specloop/spec", HeadSHA: sha, Conclusion: github.String("neutral"),
		Output: &github.CheckRunOutput{Title: github.String("t"), Summary: github.String(strings.Repeat("é", 65535))},
	})
	require.NoError(t, err)

	list, _, err := b.reader.Checks.ListCheckRunsForRef(ctx, "acme", "widgets", "main", nil)
	require.NoError(t, err)
	require.Equal(t, 2, list.GetTotal())
	list, _, err = b.reader.Checks.ListCheckRunsForRef(ctx, "acme", "widgets", sha, &github.ListCheckRunsOptions{CheckName: github.String("specloop/cycle")})
	require.NoError(t, err)
	require.Equal(t, 1, list.GetTotal())
	require.Equal(t, "cycle-1", list.CheckRuns[0].GetExternalID())

	// A maintainer re-runs it; a reader may not.
	_, err = b.maintainer.Checks.ReRequestCheckRun(ctx, "acme", "widgets", cr.GetID())
	require.NoError(t, err)
	resp, err = b.reader.Checks.ReRequestCheckRun(ctx, "acme", "widgets", cr.GetID())
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.NoError(t, b.s.RequestAction("acme", "widgets", cr.GetID(), "next", "maintainer"))
	require.Error(t, b.s.RequestAction("acme", "widgets", cr.GetID(), "nope", "maintainer"))

	b.drain(t)
	rr := b.hooks.events("check_run", "rerequested")
	require.Len(t, rr, 1)
	var ev github.CheckRunEvent
	require.NoError(t, jsonUnmarshal(rr[0].body, &ev))
	require.Equal(t, "maintainer", ev.GetSender().GetLogin())
	require.Equal(t, int64(testAppID), ev.GetCheckRun().GetApp().GetID())
	require.Equal(t, cr.GetID(), ev.GetCheckRun().GetID())
	ra := b.hooks.events("check_run", "requested_action")
	require.Len(t, ra, 1)
	ev = github.CheckRunEvent{}
	require.NoError(t, jsonUnmarshal(ra[0].body, &ev))
	require.Equal(t, "next", ev.GetRequestedAction().Identifier)
	require.Len(t, b.hooks.events("check_run", "created"), 2)
	require.Len(t, b.hooks.events("check_run", "completed"), 2)
}
