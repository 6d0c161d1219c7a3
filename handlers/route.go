package handlers

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/riverqueue/river"

	"github.com/specloop/specloop/evidence"
	"github.com/specloop/specloop/jobs"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/store"
)

// RouteConfig is what routing needs to know about the app.
type RouteConfig struct {
	AppID   int64  // check runs of other apps are not ours
	AppSlug string // comments by "<slug>[bot]" are our own
}

// delivery is a parsed, verified webhook request on its way to the store.
type delivery struct {
	GUID  string
	Event string
	Body  []byte
	P     *payload
	// Common fields every payload may carry.
	Action       string
	Repo         string
	Installation int64
}

// Plan is what a delivery implies: jobs to queue and records to write, all in
// the delivery's transaction.
type Plan struct {
	Jobs          []river.JobArgs
	Installations []store.Installation // written as given
	Mentioned     []store.Installation // recorded if new, state left alone
	Repos         []store.Repo
	// Moved are repos whose default branch moved: their cached config is
	// stale. Forget are installations whose repos' cached reads go.
	Moved  []string
	Forget []int64
}

// errBadPayload marks a body that parsed as JSON but lacks what the event
// needs; the intake answers 400.
var errBadPayload = errors.New("malformed payload")

func badPayload(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadPayload, fmt.Sprintf(format, args...))
}

// router maps (event, action) to a function that plans the delivery, as
// Prow's hook does: each handler decides alone whether it cares.
type router struct {
	cfg    RouteConfig
	routes map[string]func(*delivery) (*Plan, error)
}

func newRouter(cfg RouteConfig) *router {
	r := &router{cfg: cfg}
	r.routes = map[string]func(*delivery) (*Plan, error){
		"issues.labeled":                      r.issueLabel,
		"issues.unlabeled":                    r.issueLabel,
		"issue_comment.created":               r.issueComment,
		"push":                                r.push,
		"pull_request.closed":                 r.pullClosed,
		"check_run.rerequested":               r.checkRun,
		"check_run.requested_action":          r.checkRun,
		"pull_request_review.submitted":       r.review,
		"pull_request_review_comment.created": r.review,
		"check_suite.completed":               r.checkSuite,
		"check_suite.rerequested":             r.checkSuiteRerequested,
		"installation":                        r.installation,
		"installation_repositories.added":     r.installationRepos,
		"installation_repositories.removed":   r.installationRepos,
	}
	return r
}

// plan returns what d implies; events specloop does not act on imply nothing.
func (r *router) plan(d *delivery) (*Plan, error) {
	if fn, ok := r.routes[d.Event+"."+d.Action]; ok {
		return fn(d)
	}
	if fn, ok := r.routes[d.Event]; ok {
		return fn(d)
	}
	return &Plan{}, nil
}

func (r *router) issueLabel(d *delivery) (*Plan, error) {
	ev := d.P
	if ev.Issue == nil || ev.Issue.Number == 0 || ev.Label == nil || ev.Repository == nil {
		return nil, badPayload("issues.%s needs issue.number, label and repository", d.Action)
	}
	if ev.Issue.PullRequest != nil || r.ownBot(ev.Sender) {
		return &Plan{}, nil
	}
	// The repo config may name another label; the job compares, since reading
	// the config needs the API.
	return &Plan{Jobs: []river.JobArgs{jobs.IssueLabelArgs{
		Repo:           d.Repo,
		InstallationID: d.Installation,
		Issue:          ev.Issue.Number,
		Label:          ev.Label.Name,
		Labeled:        d.Action == "labeled",
		Sender:         ev.Sender.Login,
		Delivery:       d.GUID,
	}}}, nil
}

func (r *router) issueComment(d *delivery) (*Plan, error) {
	ev := d.P
	if ev.Issue == nil || ev.Comment == nil || ev.Repository == nil {
		return nil, badPayload("issue_comment.created needs issue, comment and repository")
	}
	if ev.Comment.User.Type == "Bot" || ev.Sender.Type == "Bot" || r.ownBot(ev.Sender) {
		return &Plan{}, nil
	}
	cmd, ok := ParseCommand(ev.Comment.Body)
	quote := ""
	if !ok {
		// A reply quoting specloop's question answers it; the job checks
		// that it quotes the question the run waits on.
		q, reply, quoted := QuotedReply(ev.Comment.Body)
		if !quoted {
			return &Plan{}, nil
		}
		cmd, quote = Command{Name: jobs.CommandAnswer, Text: reply}, q
	}
	return &Plan{Jobs: []river.JobArgs{jobs.CommandArgs{
		Repo:           d.Repo,
		InstallationID: d.Installation,
		Issue:          ev.Issue.Number,
		IsPR:           ev.Issue.PullRequest != nil,
		CommentID:      ev.Comment.ID,
		Command:        cmd.Name,
		Args:           cmd.Args,
		Text:           cmd.Text,
		Quote:          quote,
		Sender:         ev.Sender.Login,
		Delivery:       d.GUID,
	}}}, nil
}

// pullClosed stops the run of a closed (or merged) PR; the job finds
// whether the PR is a run's, since the branch prefix is in the repo config.
func (r *router) pullClosed(d *delivery) (*Plan, error) {
	ev := d.P
	if ev.PullRequest == nil || ev.PullRequest.Number == 0 || ev.PullRequest.Head.Ref == "" || ev.Repository == nil {
		return nil, badPayload("pull_request.closed needs pull_request.number, pull_request.head.ref and repository")
	}
	return &Plan{Jobs: []river.JobArgs{jobs.PullClosedArgs{
		Repo:           d.Repo,
		InstallationID: d.Installation,
		PR:             ev.PullRequest.Number,
		Branch:         ev.PullRequest.Head.Ref,
		Merged:         ev.PullRequest.Merged,
		Sender:         ev.Sender.Login,
		Delivery:       d.GUID,
	}}}, nil
}

func (r *router) push(d *delivery) (*Plan, error) {
	ev := d.P
	if ev.Ref == nil || ev.Repository == nil {
		return nil, badPayload("push needs ref and repository")
	}
	if ev.Deleted || *ev.Ref != "refs/heads/"+ev.Repository.DefaultBranch {
		return &Plan{}, nil
	}
	var changed [][]string
	for _, c := range ev.Commits {
		changed = append(changed, c.Added, c.Modified, c.Removed)
	}
	// Every push to the default branch may change the config the jobs
	// read; the cached read goes stale in this delivery's transaction.
	p := &Plan{Moved: []string{d.Repo}}
	files := changedSpecCandidates(changed)
	if len(files) == 0 {
		return p, nil
	}
	p.Jobs = []river.JobArgs{jobs.SpecPushArgs{
		Repo:           d.Repo,
		InstallationID: d.Installation,
		Ref:            *ev.Ref,
		Before:         ev.Before,
		After:          ev.After,
		Files:          files,
		Delivery:       d.GUID,
	}}
	return p, nil
}

// changedSpecCandidates lists the changed Markdown files and the repo config:
// the repo's own spec globs are applied by the job, which can read them.
func changedSpecCandidates(lists [][]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, list := range lists {
		for _, f := range list {
			if seen[f] || (path.Ext(f) != ".md" && f != repoconfig.Path) {
				continue
			}
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func (r *router) checkRun(d *delivery) (*Plan, error) {
	ev := d.P
	if ev.CheckRun == nil || ev.CheckRun.ID == 0 || ev.Repository == nil {
		return nil, badPayload("check_run.%s needs check_run.id and repository", d.Action)
	}
	if ev.CheckRun.App.ID != r.cfg.AppID || !strings.HasPrefix(ev.CheckRun.Name, "specloop/") {
		return &Plan{}, nil
	}
	if d.Action == "rerequested" {
		switch ev.CheckRun.Name {
		case "specloop/spec":
			// Read the same spec files at the same commit again.
			return &Plan{Jobs: []river.JobArgs{jobs.SpecPushArgs{
				Repo: d.Repo, InstallationID: d.Installation, After: ev.CheckRun.HeadSHA,
				Files: evidence.SpecCheckFiles(ev.CheckRun.ExternalID), Delivery: d.GUID, Rerun: true,
			}}}, nil
		case "specloop/config":
			// The cached config goes stale in this delivery's transaction,
			// so the job reads it again.
			return &Plan{Moved: []string{d.Repo}, Jobs: []river.JobArgs{jobs.ConfigRecheckArgs{
				Repo: d.Repo, InstallationID: d.Installation, Delivery: d.GUID,
			}}}, nil
		}
	}
	identifier := ""
	if ev.RequestedAction != nil {
		identifier = ev.RequestedAction.Identifier
	}
	return &Plan{Jobs: []river.JobArgs{jobs.CheckRunArgs{
		Repo:           d.Repo,
		InstallationID: d.Installation,
		CheckRunID:     ev.CheckRun.ID,
		Name:           ev.CheckRun.Name,
		ExternalID:     ev.CheckRun.ExternalID,
		HeadSHA:        ev.CheckRun.HeadSHA,
		Action:         d.Action,
		Identifier:     identifier,
		Sender:         ev.Sender.Login,
		Delivery:       d.GUID,
	}}}, nil
}

// checkSuite is "Re-run all checks" on a suite: specloop's own suites
// retry their cycle, as "Re-run" on one of its checks does.
func (r *router) checkSuiteRerequested(d *delivery) (*Plan, error) {
	ev := d.P
	if ev.CheckSuite == nil || ev.CheckSuite.HeadSHA == "" || ev.Repository == nil {
		return nil, badPayload("check_suite.%s needs check_suite.head_sha and repository", d.Action)
	}
	if ev.CheckSuite.App.ID != r.cfg.AppID {
		return &Plan{}, nil
	}
	return &Plan{Jobs: []river.JobArgs{jobs.CheckRunArgs{
		Repo: d.Repo, InstallationID: d.Installation, HeadSHA: ev.CheckSuite.HeadSHA,
		Action: jobs.SuiteRerequested, Sender: ev.Sender.Login, Delivery: d.GUID,
	}}}, nil
}

func (r *router) installation(d *delivery) (*Plan, error) {
	ev := d.P
	if ev.Installation == nil || ev.Installation.ID == 0 {
		return nil, badPayload("installation needs installation.id")
	}
	in := installationRecord(ev.Installation)
	switch d.Action {
	case "deleted":
		in.Deleted = true
	case "suspend":
		in.Suspended = true
	}
	p := &Plan{Installations: []store.Installation{in}, Forget: []int64{in.ID}}
	for _, repo := range ev.Repositories {
		p.Repos = append(p.Repos, repoRecord(in.ID, repo, d.Action == "deleted"))
	}
	return p, nil
}

func (r *router) installationRepos(d *delivery) (*Plan, error) {
	ev := d.P
	if ev.Installation == nil || ev.Installation.ID == 0 {
		return nil, badPayload("installation_repositories needs installation.id")
	}
	in := installationRecord(ev.Installation)
	p := &Plan{Mentioned: []store.Installation{in}, Forget: []int64{in.ID}}
	for _, repo := range ev.RepositoriesAdded {
		p.Repos = append(p.Repos, repoRecord(in.ID, repo, false))
	}
	for _, repo := range ev.RepositoriesRemoved {
		p.Repos = append(p.Repos, repoRecord(in.ID, repo, true))
	}
	return p, nil
}

func installationRecord(i *installation) store.Installation {
	in := store.Installation{ID: i.ID, Suspended: i.SuspendedAt != nil}
	if i.Account != nil {
		in.AccountLogin, in.AccountType = i.Account.Login, i.Account.Type
	}
	return in
}

func repoRecord(installationID int64, r repository, removed bool) store.Repo {
	return store.Repo{
		ID:             r.ID,
		InstallationID: installationID,
		FullName:       r.FullName,
		Private:        r.Private,
		DefaultBranch:  r.DefaultBranch,
		Removed:        removed,
	}
}

func (r *router) ownBot(u user) bool {
	return r.cfg.AppSlug != "" && u.Login == r.cfg.AppSlug+"[bot]"
}
