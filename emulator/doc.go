// Package emulator is a local, in-memory stand-in for the parts of GitHub
// that specloop talks to.
//
// GitHub cannot be reached from the machines specloop is built and tested
// on, so the emulator speaks GitHub's own REST shapes (built from go-github's
// types) at the root of its URL. A *github.Client whose BaseURL points at
// the emulator, and a ghinstallation transport whose BaseURL does, work
// unchanged:
//
//   - the app authenticates with an RS256 JWT and exchanges it for
//     installation tokens ("ghs_…") that expire after an hour;
//   - users hold personal tokens ("ghp_…") and a permission on each repo;
//   - repositories are real bare git repositories under Options.Dir, served
//     over git's smart HTTP protocol by `git http-backend`;
//   - issues, labels, comments, reactions, pull requests and check runs are
//     kept in memory behind one mutex;
//   - every action that fires a webhook on GitHub fires the same event,
//     signed with the webhook secret, delivered asynchronously and in order
//     per repository, and recorded for inspection and redelivery.
//
// Tests reach behind the API with inspection helpers (PullRequests,
// IssueComments, CheckRuns, Deliveries, …) and make GitHub misbehave with
// Inject.
//
// # Deviations from GitHub
//
//   - Every API endpoint needs credentials, even reads of public
//     repositories (GitHub allows anonymous reads).
//   - PATCH /repos/{o}/{r}/pulls/{n} accepts "draft"; on GitHub a draft can
//     only be marked ready through GraphQL.
//   - There is one check suite per (repo, head SHA); check_suite events are
//     not sent, and neither is pull_request "synchronize" after a push.
//   - POST .../check-runs/{id}/rerequest accepts a person's token with
//     write access (GitHub limits it), so tests can play the "Re-run" button.
//   - Forks are not emulated: a PR's head is a branch of the same repo;
//     MarkFork makes a PR report its head as a fork's.
//   - HTML URLs point at the emulator's browser view (browser.go): pages for
//     repos, issues, pull requests and check runs, with forms that replay
//     the REST requests as a chosen seeded user. Its pages are not counted,
//     rate-limited or faulted as API requests; its forms are. It has no
//     CSRF protection: it is a local test tool.
//   - Pagination is not implemented: list endpoints return everything.
package emulator
