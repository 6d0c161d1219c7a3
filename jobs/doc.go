// Package jobs holds specloop's job kinds and their River workers: the cycle
// engine, issue and command handling, spec checks on push, drains and
// retention. The intake queues these jobs in the same transaction as the
// delivery that implies them.
package jobs
