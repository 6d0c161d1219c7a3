package publish

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-github/v62/github"
)

// GitHub's REST API ignores "draft" when a pull request is updated: only
// GraphQL's markPullRequestReadyForReview and convertPullRequestToDraft
// change it. go-github speaks no GraphQL, so this is the one query
// specloop sends, through the same client (and so the same transport:
// auth, retries, pacing).

// graphQLURL is the GraphQL endpoint beside a REST base URL:
// api.github.com/ → api.github.com/graphql; GitHub Enterprise's
// host/api/v3/ → host/api/graphql.
func graphQLURL(rest *url.URL) string {
	u := *rest
	p := strings.TrimSuffix(u.Path, "/")
	if strings.HasSuffix(p, "/api/v3") {
		p = strings.TrimSuffix(p, "/v3")
	}
	u.Path = p + "/graphql"
	return u.String()
}

type graphQLResponse struct {
	Data   map[string]any `json:"data"`
	Errors []struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"errors"`
}

// errDraftsRefused says the repository's plan has no draft pull requests
// (private repositories of Free-plan owners).
var errDraftsRefused = fmt.Errorf("draft pull requests are not supported in this repository")

// setDraft marks a PR (by node id) draft or ready for review.
func setDraft(ctx context.Context, gh *github.Client, nodeID string, draft bool) error {
	mutation := "markPullRequestReadyForReview"
	if draft {
		mutation = "convertPullRequestToDraft"
	}
	body := map[string]any{
		"query":     "mutation($id: ID!) { " + mutation + "(input: {pullRequestId: $id}) { pullRequest { isDraft } } }",
		"variables": map[string]any{"id": nodeID},
	}
	req, err := gh.NewRequest("POST", graphQLURL(gh.BaseURL), body)
	if err != nil {
		return fmt.Errorf("%s: %w", mutation, err)
	}
	var out graphQLResponse
	if _, err := gh.Do(ctx, req, &out); err != nil {
		return fmt.Errorf("%s: %w", mutation, err)
	}
	if len(out.Errors) > 0 {
		if strings.Contains(out.Errors[0].Message, "not supported") {
			return errDraftsRefused
		}
		return fmt.Errorf("%s: %s", mutation, out.Errors[0].Message)
	}
	return nil
}
