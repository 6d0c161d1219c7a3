package emulator

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

func TestIssuesLabelsComments(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	is, resp, err := b.maintainer.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{
		Title: github.String("Build it"), Body: github.String("- [ ] a\n"),
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, 1, is.GetNumber())

	_, resp, err = b.maintainer.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{})
	require.Error(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)

	labels, _, err := b.maintainer.Issues.AddLabelsToIssue(ctx, "acme", "widgets", 1, []string{"specloop", "bug"})
	require.NoError(t, err)
	require.Len(t, labels, 2)
	// Adding a label already there fires nothing more.
	_, _, err = b.maintainer.Issues.AddLabelsToIssue(ctx, "acme", "widgets", 1, []string{"specloop"})
	require.NoError(t, err)
	_, err = b.maintainer.Issues.RemoveLabelForIssue(ctx, "acme", "widgets", 1, "bug")
	require.NoError(t, err)
	resp, err = b.maintainer.Issues.RemoveLabelForIssue(ctx, "acme", "widgets", 1, "bug")
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// A reader may not label.
	_, resp, err = b.reader.Issues.AddLabelsToIssue(ctx, "acme", "widgets", 1, []string{"x"})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	got, _, err := b.reader.Issues.Get(ctx, "acme", "widgets", 1)
	require.NoError(t, err)
	require.Len(t, got.Labels, 1)
	require.Equal(t, "specloop", got.Labels[0].GetName())
	require.Nil(t, got.PullRequestLinks)

	b.drain(t)
	require.Len(t, b.hooks.events("issues", "opened"), 1)
	labeled := b.hooks.events("issues", "labeled")
	require.Len(t, labeled, 2)
	var ev github.IssuesEvent
	require.NoError(t, jsonUnmarshal(labeled[0].body, &ev))
	require.Equal(t, "specloop", ev.GetLabel().GetName())
	require.Equal(t, "maintainer", ev.GetSender().GetLogin())
	require.Equal(t, "User", ev.GetSender().GetType())
	require.Equal(t, b.instID, ev.GetInstallation().GetID())
	require.Equal(t, "acme/widgets", ev.GetRepo().GetFullName())
	require.Len(t, b.hooks.events("issues", "unlabeled"), 1)

	// Comments: a person's and the app's, which is a Bot and still fires.
	c1, _, err := b.maintainer.Issues.CreateComment(ctx, "acme", "widgets", 1, &github.IssueComment{Body: github.String("/loop status")})
	require.NoError(t, err)
	c2, _, err := b.app.Issues.CreateComment(ctx, "acme", "widgets", 1, &github.IssueComment{Body: github.String("working")})
	require.NoError(t, err)
	require.Equal(t, "specloop[bot]", c2.GetUser().GetLogin())
	require.Equal(t, "Bot", c2.GetUser().GetType())

	edited, _, err := b.app.Issues.EditComment(ctx, "acme", "widgets", c2.GetID(), &github.IssueComment{Body: github.String("done")})
	require.NoError(t, err)
	require.Equal(t, "done", edited.GetBody())
	_, resp, err = b.reader.Issues.EditComment(ctx, "acme", "widgets", c1.GetID(), &github.IssueComment{Body: github.String("hijack")})
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	list, _, err := b.reader.Issues.ListComments(ctx, "acme", "widgets", 1, nil)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "done", list[1].GetBody())
	require.Len(t, b.s.IssueComments("acme", "widgets", 1), 2)

	b.drain(t)
	created := b.hooks.events("issue_comment", "created")
	require.Len(t, created, 2)
	var ce github.IssueCommentEvent
	require.NoError(t, jsonUnmarshal(created[1].body, &ce))
	require.Equal(t, "Bot", ce.GetSender().GetType())
	require.Equal(t, "working", ce.GetComment().GetBody())
	require.Nil(t, ce.GetIssue().PullRequestLinks)
	require.Len(t, b.hooks.events("issue_comment", "edited"), 1)
}

func TestReactions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, _, err := b.maintainer.Issues.Create(ctx, "acme", "widgets", &github.IssueRequest{Title: github.String("x")})
	require.NoError(t, err)
	c, _, err := b.maintainer.Issues.CreateComment(ctx, "acme", "widgets", 1, &github.IssueComment{Body: github.String("/loop next")})
	require.NoError(t, err)

	r1, resp, err := b.app.Reactions.CreateIssueCommentReaction(ctx, "acme", "widgets", c.GetID(), "eyes")
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	r2, resp, err := b.app.Reactions.CreateIssueCommentReaction(ctx, "acme", "widgets", c.GetID(), "eyes")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, r1.GetID(), r2.GetID())

	_, resp, err = b.app.Reactions.CreateIssueCommentReaction(ctx, "acme", "widgets", c.GetID(), "thumbsup")
	require.Error(t, err)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)

	list, _, err := b.reader.Reactions.ListIssueCommentReactions(ctx, "acme", "widgets", c.GetID(), nil)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "specloop[bot]", list[0].GetUser().GetLogin())
	require.Len(t, b.s.Reactions("acme", "widgets", c.GetID()), 1)

	_, resp, err = b.app.Reactions.CreateIssueCommentReaction(ctx, "acme", "widgets", 999999, "eyes")
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestCollaboratorPermission(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.s.AddUser("mia")
	b.s.SetPermission("acme", "widgets", "mia", "maintain")
	b.s.AddUser("stranger")
	cases := map[string][2]string{
		"maintainer": {"admin", "admin"},
		"mia":        {"write", "maintain"},
		"reader":     {"read", "read"},
		"stranger":   {"read", "read"}, // public repo
		"acme":       {"admin", "admin"},
	}
	for login, want := range cases {
		lvl, _, err := b.app.Repositories.GetPermissionLevel(ctx, "acme", "widgets", login)
		require.NoError(t, err, login)
		require.Equal(t, want[0], lvl.GetPermission(), login)
		require.Equal(t, login, lvl.GetUser().GetLogin())
	}
	// role_name is not in go-github v62's type; read it raw.
	req, err := b.app.NewRequest("GET", "repos/acme/widgets/collaborators/mia/permission", nil)
	require.NoError(t, err)
	var raw map[string]any
	_, err = b.app.Do(ctx, req, &raw)
	require.NoError(t, err)
	require.Equal(t, "maintain", raw["role_name"])

	_, resp, err := b.app.Repositories.GetPermissionLevel(ctx, "acme", "widgets", "nobody")
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
