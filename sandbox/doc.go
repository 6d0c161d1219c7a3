// Package sandbox runs untrusted commands (a coding agent, a project's verify
// command) in a working copy, under a driver that decides how much of the host
// the command can see.
//
// A caller describes one command with a [Spec] and hands it to a [Driver]:
//
//	d, err := sandbox.New("bwrap", logger)
//	...
//	res, err := d.Run(ctx, sandbox.Spec{
//		Dir:     workdir,
//		Shell:   "go test ./...",
//		Env:     map[string]string{"GOFLAGS": "-mod=mod"},
//		Timeout: 15 * time.Minute,
//		Limits:  sandbox.Limits{Memory: 4 << 30, Processes: 512},
//	})
//
// Run returns an error only when the command could not be run at all (a bad
// Spec, a sandbox that failed to set up). A command that exits non-zero, times
// out or is cancelled is a normal [Result].
//
// # Drivers
//
// "bwrap" (the default) runs the command under bubblewrap: a read-only view of
// the system directories (/usr, the /bin and /lib links, a short list of /etc
// files), the working copy read-write at the same path, a private /tmp, new
// user, PID, IPC, UTS and (unless Spec.Network) network namespaces, no
// capabilities, and only the environment the Spec names. [Check] verifies at
// start-up that the host lets bubblewrap create user namespaces; a server
// configured for bwrap must refuse to run cycles when it fails rather than fall
// back to "none".
//
// When the worker runs as root, bwrap is started as the unprivileged host user
// [SandboxUID] (the command sees itself as uid 1000). Root is exempt from
// RLIMIT_NPROC, so this is what makes the process limit hold; it also means a
// mount escape lands in an account that owns nothing. For the duration of Run
// the working copy is chowned to SandboxUID and afterwards back to the owner
// of Spec.Dir, so Dir and every path in Spec.ExtraRO must sit below
// directories that other users can search (mode o+x). Run reports which one
// is not. When the worker is not root, bwrap runs as the worker's own user and
// nothing is chowned.
//
// "none" runs the command as a plain subprocess with the same environment,
// timeout, output and rlimit handling, and no isolation at all. It is for
// development only and logs a warning when constructed.
//
// # Stopping commands
//
// When Spec.Timeout expires or ctx is done, every process the command started
// gets SIGTERM, and SIGKILL Spec.Grace later. When the command exits on its
// own, whatever it left running in the background is killed before Run
// returns: nothing outlives a Run. Under bwrap this is the PID namespace (its
// init exits with the command and the kernel kills the rest); under none it is
// the process group, so a command that calls setsid itself escapes it.
//
// # Limits
//
// CPU time, address space and process count are rlimits, set by prlimit(1)
// just before the command is executed, inside the sandbox. RLIMIT_NPROC is
// counted per user and per user namespace, so under bwrap it bounds the
// processes of this sandbox alone; under none it counts all processes of the
// worker's user and root is exempt. Output beyond Limits.Output is read and
// discarded (the command is not blocked or killed), and Result.Output ends
// with a note saying so.
package sandbox
