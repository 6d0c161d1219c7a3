// Package vm boots a throw-away Linux virtual machine (QEMU with KVM, a
// distribution kernel, no disk) that sees this host's file system read-only
// over 9p, and runs one command in it: for tests that need a kernel set up
// differently from the host's, such as a cgroup v2 hierarchy with the
// memory controller on a host whose memory controller is bound to cgroup
// v1.
//
// The command runs as root in the root of a pure cgroup v2 hierarchy with
// the memory and pids controllers enabled, with a private /tmp, /run, /dev
// and /proc, and no network. Only tests and bench scripts import this
// package.
package vm
