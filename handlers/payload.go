package handlers

// The fields of GitHub's payloads that routing reads. They are declared here,
// not taken from go-github, because real payloads carry timestamps in more
// than one format (some check_run payloads use "2018-04-25 20:42:10") and a
// field specloop never reads must not make a delivery fail.

type user struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

type repository struct {
	ID            int64  `json:"id"`
	FullName      string `json:"full_name"`
	Private       bool   `json:"private"`
	DefaultBranch string `json:"default_branch"`
}

type installation struct {
	ID          int64   `json:"id"`
	Account     *user   `json:"account"`
	SuspendedAt *string `json:"suspended_at"`
}

// payload is every field routing reads, of every event: the body is
// decoded once, into this, whatever the event (decoding is most of the
// intake's CPU).
type payload struct {
	Action       string        `json:"action"`
	Repository   *repository   `json:"repository"`
	Installation *installation `json:"installation"`
	Sender       user          `json:"sender"`

	// issues, issue_comment
	Issue *struct {
		Number      int  `json:"number"`
		PullRequest *any `json:"pull_request"`
	} `json:"issue"`
	Label *struct {
		Name string `json:"name"`
	} `json:"label"`
	Comment *struct {
		ID   int64  `json:"id"`
		Body string `json:"body"`
		User user   `json:"user"`
	} `json:"comment"`

	// push
	Ref     *string `json:"ref"`
	Before  string  `json:"before"`
	After   string  `json:"after"`
	Deleted bool    `json:"deleted"`
	Commits []struct {
		Added    []string `json:"added"`
		Modified []string `json:"modified"`
		Removed  []string `json:"removed"`
	} `json:"commits"`

	// check_run
	CheckRun *struct {
		ID         int64  `json:"id"`
		Name       string `json:"name"`
		HeadSHA    string `json:"head_sha"`
		ExternalID string `json:"external_id"`
		App        struct {
			ID int64 `json:"id"`
		} `json:"app"`
	} `json:"check_run"`
	// check_suite
	CheckSuite *struct {
		ID      int64  `json:"id"`
		HeadSHA string `json:"head_sha"`
		App     struct {
			ID int64 `json:"id"`
		} `json:"app"`
	} `json:"check_suite"`
	RequestedAction *struct {
		Identifier string `json:"identifier"`
	} `json:"requested_action"`

	// pull_request
	PullRequest *struct {
		Number int  `json:"number"`
		Merged bool `json:"merged"`
		Head   struct {
			Ref string `json:"ref"`
		} `json:"head"`
	} `json:"pull_request"`

	// installation, installation_repositories
	Repositories        []repository `json:"repositories"`
	RepositoriesAdded   []repository `json:"repositories_added"`
	RepositoriesRemoved []repository `json:"repositories_removed"`
}
