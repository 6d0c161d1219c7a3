package emulator

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// GraphQL is emulated for the two mutations that change a pull request's
// draft state, which GitHub's REST API cannot do. Anything else gets
// GitHub's GraphQL error shape, so a client that leans on more of GraphQL
// fails here as loudly as it would need a real schema.

// graphQLMutation matches `mutation … { <name>(input: {pullRequestId: "<id>"…`;
// variables ($id) are resolved from the request's "variables".
var graphQLMutation = regexp.MustCompile(`(?s)\b(markPullRequestReadyForReview|convertPullRequestToDraft)\s*\(\s*input\s*:\s*(\{[^}]*\}|\$\w+)`)

var graphQLPullID = regexp.MustCompile(`pullRequestId\s*:\s*(?:"([^"]+)"|\$(\w+))`)

type graphQLRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

func graphQLError(w http.ResponseWriter, status int, typ, msg string) {
	e := map[string]any{"message": msg}
	if typ != "" {
		e["type"] = typ
	}
	writeJSON(w, status, map[string]any{"errors": []any{e}})
}

func (s *Server) graphql(w http.ResponseWriter, r *http.Request) {
	secret, _, ok := credentials(r)
	if !ok {
		// GitHub's GraphQL answers 401 with a message and a docs link.
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "This endpoint requires you to be authenticated.", "documentation_url": "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"})
		return
	}
	s.mu.Lock()
	c, ok := s.callerLocked(secret)
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": "https://docs.github.com/graphql"})
		return
	}
	var req graphQLRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Query) == "" {
		graphQLError(w, http.StatusOK, "", "A query attribute must be specified and must be a string.")
		return
	}
	m := graphQLMutation.FindStringSubmatch(req.Query)
	if m == nil {
		graphQLError(w, http.StatusOK, "", "The emulator's GraphQL knows only markPullRequestReadyForReview and convertPullRequestToDraft.")
		return
	}
	mutation, input := m[1], m[2]
	var nodeID string
	if strings.HasPrefix(input, "$") {
		if obj, ok := req.Variables[strings.TrimPrefix(input, "$")].(map[string]any); ok {
			nodeID, _ = obj["pullRequestId"].(string)
		}
	} else if pm := graphQLPullID.FindStringSubmatch(input); pm != nil {
		nodeID = pm[1]
		if pm[2] != "" {
			nodeID, _ = req.Variables[pm[2]].(string)
		}
	}
	rp, p := s.pullByNodeID(nodeID)
	if p == nil {
		graphQLError(w, http.StatusOK, "NOT_FOUND", "Could not resolve to a node with the global id of '"+nodeID+"'")
		return
	}
	s.mu.Lock()
	perm := s.permissionLocked(c, rp)
	if permRank(perm) < permRank("write") && p.issue.user != c.user {
		s.mu.Unlock()
		graphQLError(w, http.StatusOK, "FORBIDDEN", c.user.login+" does not have the correct permissions to execute `"+mutation+"`")
		return
	}
	want := mutation == "convertPullRequestToDraft"
	var ev any
	if want && !p.draft && s.draftsRefusedLocked(rp) {
		s.mu.Unlock()
		graphQLError(w, http.StatusOK, "UNPROCESSABLE", draftsRefused)
		return
	}
	if p.draft != want {
		p.draft = want
		p.issue.updatedAt = s.now()
		action := "converted_to_draft"
		if !want {
			action = "ready_for_review"
		}
		ev = s.pullEvent(rp, p, action, c.user)
	}
	out := map[string]any{"data": map[string]any{mutation: map[string]any{
		"clientMutationId": nil,
		"pullRequest":      map[string]any{"id": nodeID, "number": p.issue.number, "isDraft": p.draft},
	}}}
	s.mu.Unlock()
	if ev != nil {
		s.hooks.send("pull_request", rp.key(), ev)
	}
	writeJSON(w, http.StatusOK, out)
}

// pullByNodeID finds a pull request by its node_id.
func (s *Server) pullByNodeID(id string) (*repo, *pull) {
	raw, err := base64.StdEncoding.DecodeString(id)
	if err != nil {
		return nil, nil
	}
	kind, num, ok := strings.Cut(string(raw), ":")
	if !ok || kind != "PullRequest" {
		return nil, nil
	}
	pid, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rp := range s.repos {
		for _, p := range rp.pulls {
			if p.id == pid {
				return rp, p
			}
		}
	}
	return nil, nil
}
