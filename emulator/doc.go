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
// # Faithful where GitHub surprises people
//
//   - Responses carry GitHub's shapes: nulls, empty arrays, URL fields and
//     node_ids (shape.go), checked against GitHub's OpenAPI description
//     and octokit's webhook schemas (conformance_test.go).
//   - Lists paginate: per_page (default 30, at most 100), page, Link.
//   - Reads carry an ETag; If-None-Match answers 304, which costs no rate
//     limit.
//   - REST PATCH of a PR's draft is ignored; GraphQL's
//     markPullRequestReadyForReview and convertPullRequestToDraft change it
//     (POST /graphql, which knows nothing else and answers GitHub's error
//     shape for the rest).
//   - Draft PRs are refused (422) in private repos of owners on the Free
//     plan (SetPlan; Options.DefaultPlan).
//   - Secondary rate limits: 80 content-creating requests a minute, 500 an
//     hour, per user or installation; 403 with Retry-After.
//   - Only the events the app subscribes to are delivered (Options.Events;
//     the stack and `specloop emulator` pass app.yml's).
//   - The deliveries API lists failed deliveries and redelivers them.
//   - Forks (Fork, POST .../forks) and PRs from them ("owner:branch"
//     heads, kept in the parent as refs/pull/<n>/head).
//   - An injectable clock (Options.Now, Clock) expires tokens.
//
// # Deviations from GitHub
//
//   - Every API endpoint needs credentials, even reads of public
//     repositories (GitHub allows anonymous reads).
//   - There is one check suite per (repo, head SHA); check_suite events
//     other than rerequested, and completed for CompleteSuite (a CI app's
//     suite), are not sent, and neither is pull_request
//     "synchronize" after a push.
//   - POST .../check-runs/{id}/rerequest accepts a person's token with
//     write access (GitHub limits it), so tests can play the "Re-run" button.
//   - Forks are bare clones made at once (GitHub answers 202 and forks in
//     the background); MarkFork still makes a same-repo PR report a fork's
//     head, for tests that need no fork.
//   - Commits carry no signature verification; additions and deletions
//     come from git's numstat.
//   - HTML pages (browser.go) for repos, issues, pull requests and check
//     runs, with forms that replay the REST requests as a chosen seeded
//     user. They are not counted, rate-limited or faulted as API requests;
//     their forms are. They have no CSRF protection: a local test tool.
package emulator
