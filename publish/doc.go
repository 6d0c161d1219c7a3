// Package publish puts a cycle's change where a reviewer sees it: the
// commit (with the obligation ticked on success), the push of the run's
// branch from outside the sandbox, the pull request and the tick of an
// issue's task list. A Backend says where: GitHub for the workers, the
// local repository for `specloop cycle`; both share the commit.
//
// It must not import the store or River, and it posts no check runs
// (package evidence does).
package publish
