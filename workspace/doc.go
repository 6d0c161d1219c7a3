// Package workspace gives each cycle a fresh, private git working copy of an
// exact commit, cheaply, and publishes the result.
//
// A worker keeps a [Cache] directory shared by all its cycles (and by other
// worker processes on the same machine):
//
//	<Dir>/mirrors/<host>/<owner>/<repo>.git   bare mirror, updated by Fetch
//	<Dir>/pristine/<host>/<owner>/<repo>/<sha> read-only checkout of one commit
//	                                          (tree/ and its git index, or a
//	                                          layer/ and the layers under it)
//	<Dir>/work/wd-*                            one per Workdir, removed by Close
//	<Dir>/locks/...                            flock files
//
// # Nothing leaks
//
// A Workdir's root holds its flock before it appears under its wd- name
// (it is made as new-* and renamed), so a wd- directory whose lock is free
// belongs to a dead process: the kernel dropped the lock. Sweep removes
// those (unmounting their overlay first), and half-built mirrors and
// pristine checkouts whose builder's lock is free; a worker runs it at
// start and before taking over a dead worker's cycle. Prune also removes
// pristine checkouts unused for a while, and evicts the least recently
// used pristine checkouts and mirrors past MaxBytes. A Workdir holds its
// repo's use lock shared for its life, so a mirror in use is never evicted,
// nor is the pristine checkout a live Workdir is mounted on, nor one a
// kept checkout is layered on.
//
// # Why overlayfs
//
// Preparing a cycle means checking out ~10,000 files. Writing them costs far
// more than anything else, so a commit is materialised once as a pristine
// tree, and each cycle gets a copy-on-write view of it: an overlay mount with
// the pristine tree as the read-only lower layer and a private upper layer.
// Mounting is a constant-time operation, edits land in the upper layer only,
// and an append to a file copies it up first, so the pristine tree can never
// be modified through a Workdir (hardlink copies would allow exactly that).
// The cache filesystem is ext4 here, so reflink copies are not available.
//
// Consecutive cycles of a run start from the commit the previous one
// pushed, a child of a commit already materialised. Such a commit is
// materialised as a layer: a directory holding only the files that differ
// from its first parent, with overlayfs whiteouts for deleted paths, mounted
// above the parent's own layers (its layers file lists them, top first), so
// it costs a few files instead of the whole tree. Type changes, large diffs
// and long chains are materialised in full instead, which starts a new
// chain. Prune keeps every pristine checkout a kept one is layered on.
// Overlay mounts need CAP_SYS_ADMIN; when they are unavailable (not root, or
// the mount fails) Checkout falls back to a plain checkout from the mirror,
// which is always correct but costs a full checkout every cycle.
//
// # Git metadata
//
// Each Workdir has its own git directory outside the working tree
// (<Dir>/work/wd-*/git): HEAD at the commit, the mirror's objects borrowed via
// objects/info/alternates, and an index copied from the pristine checkout so
// that `git status` does not rehash anything. The tree holds a `.git` file
// pointing there, so git works in it as usual. The package itself never
// trusts that file or anything else in the tree: its own git commands name
// the git directory and work tree explicitly, and disable hooks and
// fsmonitor, so content written by an agent cannot make the worker run code.
//
// Mirrors are never garbage-collected (gc.auto=0): working copies borrow
// their objects, and a commit that disappears from the remote must stay
// checkable while a cycle uses it.
//
// # Tokens
//
// Installation tokens are passed to git only through GIT_CONFIG_* environment
// variables as an http.extraHeader scoped to the remote's host: they are never
// written to a config file, a remote URL or a command line, and every error
// message is scrubbed of them.
package workspace
