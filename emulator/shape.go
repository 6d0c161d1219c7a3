package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// GitHub's shapes. The emulator builds its objects with go-github's
// structs, whose omitempty tags drop every null, empty array and false a
// real response carries; clients written against GitHub read those keys
// (`"milestone": null`, `"assignees": []`). shape re-encodes a value and
// puts the keys back, per kind of object. The kind comes from the node_id
// (nodeID encodes it), or, for objects without one, from the key that
// holds them. The conformance tests check the result against GitHub's
// OpenAPI description and octokit's webhook schemas.

// absent are keys GitHub always sends, with the value they have when the
// emulator has nothing to say: nil is JSON null.
var absent = map[string]map[string]any{
	"User": {"gravatar_id": "", "site_admin": false},
	"Issue": {
		"assignee": nil, "assignees": []any{}, "milestone": nil, "closed_at": nil, "body": nil, "locked": false,
		"active_lock_reason": nil, "labels": []any{}, "comments": 0, "performed_via_github_app": nil,
		"state_reason": nil,
	},
	"PullRequest": {
		"assignee": nil, "assignees": []any{}, "milestone": nil, "closed_at": nil, "merged_at": nil, "body": nil,
		"merge_commit_sha": nil, "requested_reviewers": []any{}, "requested_teams": []any{}, "labels": []any{},
		"active_lock_reason": nil, "auto_merge": nil, "locked": false, "draft": false, "merged": false, "mergeable": nil,
		"rebaseable": nil, "mergeable_state": "unknown", "merged_by": nil, "comments": 0, "review_comments": 0, "commits": 1,
		"additions": 0, "deletions": 0, "changed_files": 0, "maintainer_can_modify": false,
	},
	"Repository": {
		"description": nil, "homepage": nil, "language": nil, "mirror_url": nil, "license": nil, "fork": false,
		"forks_count": 0, "stargazers_count": 0, "watchers_count": 0, "size": 0, "open_issues_count": 0,
		"is_template": false, "topics": []any{}, "has_issues": true, "has_projects": true, "has_wiki": true,
		"has_pages": false, "has_downloads": true, "has_discussions": false, "archived": false, "disabled": false,
		"forks": 0, "open_issues": 0, "watchers": 0, "allow_forking": true, "web_commit_signoff_required": false,
		"custom_properties": map[string]any{},
	},
	"Label":        {"description": nil, "default": false},
	"IssueComment": {"performed_via_github_app": nil},
	"CheckRun": {
		"external_id": "", "details_url": nil, "conclusion": nil, "completed_at": nil, "pull_requests": []any{},
	},
	"CheckSuite":   {"head_branch": nil, "conclusion": nil, "pull_requests": []any{}},
	"App":          {"description": nil, "events": []any{}},
	"Installation": {"suspended_by": nil, "suspended_at": nil, "single_file_name": nil, "events": []any{}},
}

// derive adds the URL fields GitHub derives from an object's own url.
var derive = map[string]func(x map[string]any, api, html string){
	"User": func(x map[string]any, api, _ string) {
		for k, suffix := range map[string]string{
			"followers_url": "/followers", "following_url": "/following{/other_user}", "gists_url": "/gists{/gist_id}",
			"starred_url": "/starred{/owner}{/repo}", "subscriptions_url": "/subscriptions", "organizations_url": "/orgs",
			"repos_url": "/repos", "events_url": "/events{/privacy}", "received_events_url": "/received_events",
		} {
			setAbsent(x, k, api+suffix)
		}
	},
	"Repository": func(x map[string]any, api, html string) {
		for k, suffix := range map[string]string{
			"forks_url": "/forks", "keys_url": "/keys{/key_id}", "collaborators_url": "/collaborators{/collaborator}",
			"teams_url": "/teams", "hooks_url": "/hooks", "issue_events_url": "/issues/events{/number}", "events_url": "/events",
			"assignees_url": "/assignees{/user}", "branches_url": "/branches{/branch}", "tags_url": "/tags",
			"blobs_url": "/git/blobs{/sha}", "git_tags_url": "/git/tags{/sha}", "git_refs_url": "/git/refs{/sha}",
			"trees_url": "/git/trees{/sha}", "statuses_url": "/statuses/{sha}", "languages_url": "/languages",
			"stargazers_url": "/stargazers", "contributors_url": "/contributors", "subscribers_url": "/subscribers",
			"subscription_url": "/subscription", "commits_url": "/commits{/sha}", "git_commits_url": "/git/commits{/sha}",
			"comments_url": "/comments{/number}", "issue_comment_url": "/issues/comments{/number}",
			"contents_url": "/contents/{+path}", "compare_url": "/compare/{base}...{head}", "merges_url": "/merges",
			"archive_url": "/{archive_format}{/ref}", "downloads_url": "/downloads", "issues_url": "/issues{/number}",
			"pulls_url": "/pulls{/number}", "milestones_url": "/milestones{/number}",
			"notifications_url": "/notifications{?since,all,participating}", "labels_url": "/labels{/name}",
			"releases_url": "/releases{/id}", "deployments_url": "/deployments",
		} {
			setAbsent(x, k, api+suffix)
		}
		full, _ := x["full_name"].(string)
		host := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSuffix(html, "/"+full), "http://"), "https://")
		setAbsent(x, "git_url", "git://"+host+"/"+full+".git")
		setAbsent(x, "ssh_url", "git@"+host+":"+full+".git")
		setAbsent(x, "svn_url", html)
	},
	"Issue": func(x map[string]any, api, _ string) {
		setAbsent(x, "labels_url", api+"/labels{/name}")
		setAbsent(x, "events_url", api+"/events")
		setAbsent(x, "timeline_url", api+"/timeline")
		setAbsent(x, "reactions", reactionRollup(api+"/reactions", nil))
	},
	"IssueComment": func(x map[string]any, api, _ string) {
		setAbsent(x, "reactions", reactionRollup(api+"/reactions", nil))
	},
	"PullRequest": func(x map[string]any, api, html string) {
		issue, _ := x["issue_url"].(string)
		repoAPI := api[:max(strings.LastIndex(api, "/pulls/"), 0)]
		sha := ""
		if head, ok := x["head"].(map[string]any); ok {
			sha, _ = head["sha"].(string)
		}
		setAbsent(x, "commits_url", api+"/commits")
		setAbsent(x, "review_comments_url", api+"/comments")
		setAbsent(x, "review_comment_url", repoAPI+"/pulls/comments{/number}")
		setAbsent(x, "comments_url", issue+"/comments")
		setAbsent(x, "statuses_url", repoAPI+"/statuses/"+sha)
		href := func(u string) any { return map[string]any{"href": u} }
		setAbsent(x, "_links", map[string]any{
			"self": href(api), "html": href(html), "issue": href(issue), "comments": href(issue + "/comments"),
			"review_comments": href(api + "/comments"), "review_comment": href(repoAPI + "/pulls/comments{/number}"),
			"commits": href(api + "/commits"), "statuses": href(repoAPI + "/statuses/" + sha),
		})
	},
}

func setAbsent(x map[string]any, k string, v any) {
	if _, ok := x[k]; !ok {
		x[k] = v
	}
}

// reactionContentKeys are the keys of GitHub's reaction rollup.
var reactionContentKeys = []string{"+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"}

// reactionRollup is the "reactions" object issues and comments carry.
func reactionRollup(url string, counts map[string]int) map[string]any {
	out := map[string]any{"url": url}
	total := 0
	for _, k := range reactionContentKeys {
		out[k] = counts[k]
		total += counts[k]
	}
	out["total_count"] = total
	return out
}

// shape encodes v as GitHub would send it.
func shape(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, err
	}
	fill(tree)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// kindOf reads the kind nodeID wrote into a node_id. An installation's
// full form carries none (only the short form in webhooks does): its
// access_tokens_url tells it.
func kindOf(obj map[string]any) string {
	if _, ok := obj["access_tokens_url"]; ok {
		return "Installation"
	}
	id, ok := obj["node_id"].(string)
	if !ok {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(id)
	if err != nil {
		return ""
	}
	kind, _, _ := strings.Cut(string(raw), ":")
	switch kind {
	case "Bot", "Organization":
		return "User"
	case "Installation":
		return "" // the short form webhooks carry: id and node_id alone
	case "Repository":
		// Lists of an installation's repositories in its webhooks are a
		// short form (id, name, full_name, private) without an owner.
		if _, ok := obj["owner"]; !ok {
			return ""
		}
	}
	return kind
}

func fill(v any) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			fill(e)
		}
	case map[string]any:
		for _, e := range x {
			fill(e)
		}
		kind := kindOf(x)
		for k, def := range absent[kind] {
			if _, ok := x[k]; !ok {
				x[k] = cloneDefault(def)
			}
		}
		if d := derive[kind]; d != nil {
			api, _ := x["url"].(string)
			html, _ := x["html_url"].(string)
			if api != "" {
				d(x, api, html)
			}
		}
	}
}

func cloneDefault(v any) any {
	switch x := v.(type) {
	case []any:
		return append([]any{}, x...)
	case map[string]any:
		return map[string]any{}
	}
	return v
}
