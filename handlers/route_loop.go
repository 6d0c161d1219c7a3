package handlers

import (
	"strings"

	"github.com/riverqueue/river"

	"github.com/specloop/specloop/jobs"
)

// review plans a review on a PR, or one of its inline comments: a review
// job per PR, which the jobs coalesce (jobs.ReviewArgs). Review text is
// never parsed for `/loop` commands: it reaches the agent quoted, and only
// when its author may drive specloop.
func (r *router) review(d *delivery) (*Plan, error) {
	ev := d.P
	if ev.PullRequest == nil || ev.PullRequest.Number == 0 || ev.Repository == nil {
		return nil, badPayload("%s needs pull_request.number and repository", d.Event)
	}
	author := ev.Sender
	state := ""
	switch {
	case ev.Review != nil:
		state = strings.ToLower(ev.Review.State)
		if ev.Review.User.Login != "" {
			author = ev.Review.User
		}
	case ev.Comment != nil:
		state = "commented"
		if ev.Comment.User.Login != "" {
			author = ev.Comment.User
		}
	default:
		return nil, badPayload("%s needs review or comment", d.Event)
	}
	if author.Type == "Bot" || ev.Sender.Type == "Bot" || r.ownBot(ev.Sender) || r.ownBot(author) {
		return &Plan{}, nil
	}
	return &Plan{Jobs: []river.JobArgs{jobs.ReviewArgs{
		Repo:           d.Repo,
		InstallationID: d.Installation,
		PR:             ev.PullRequest.Number,
		Branch:         ev.PullRequest.Head.Ref,
		State:          state,
		Sender:         author.Login,
		Delivery:       d.GUID,
	}}}, nil
}

// checkSuite plans a failed check suite of another app (a CI): a CI fix
// cycle if it is on a run's PR head, which the job finds out.
func (r *router) checkSuite(d *delivery) (*Plan, error) {
	ev := d.P
	if ev.CheckSuite == nil || ev.CheckSuite.ID == 0 || ev.Repository == nil {
		return nil, badPayload("check_suite.completed needs check_suite.id and repository")
	}
	cs := ev.CheckSuite
	if cs.App.ID == r.cfg.AppID || cs.HeadBranch == "" {
		return &Plan{}, nil
	}
	switch cs.Conclusion {
	case "failure", "timed_out":
	default:
		return &Plan{}, nil
	}
	return &Plan{Jobs: []river.JobArgs{jobs.CheckSuiteArgs{
		Repo:           d.Repo,
		InstallationID: d.Installation,
		SuiteID:        cs.ID,
		HeadSHA:        cs.HeadSHA,
		Branch:         cs.HeadBranch,
		App:            cs.App.Slug,
		Delivery:       d.GUID,
	}}}, nil
}
