package spec

import (
	"errors"
	"fmt"
)

// Error is a problem in a spec, located by path and 1-based line so that
// editors, `specloop spec lint` and check-run annotations can point at it.
type Error struct {
	Path string
	Line int // 0 when the problem has no single line
	Msg  string

	// Warning marks a problem that does not stop a cycle: a front matter
	// key of another tool, a marker specloop does not know.
	Warning bool
}

// Error formats the problem as "path:line: msg", the form compilers use, so
// terminals and editors make it clickable.
func (e *Error) Error() string {
	msg := e.Msg
	if e.Warning {
		msg = "warning: " + msg
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, msg)
}

var (
	// ErrUnknownID is returned by Tick when the spec has no obligation with
	// the given id.
	ErrUnknownID = errors.New("no obligation with that id")

	// ErrNoCheckbox is returned by Tick for the single obligation of a spec
	// without a task list: there is no box to tick, so the caller records
	// completion elsewhere (for an issue, the PR closes it).
	ErrNoCheckbox = errors.New("obligation has no checkbox")
)

// joinErrors turns the problems found while parsing into one error that
// still prints one problem per line; errors.As finds the first *Error.
func joinErrors(list []*Error) error {
	var errs []error
	for _, e := range list {
		if !e.Warning {
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}
