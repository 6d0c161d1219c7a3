package spec

import (
	"fmt"
	"slices"
	"strings"
)

// State is where an obligation stands, as the specloop/spec check run
// shows it.
type State string

const (
	StateDone    State = "done"    // ticked
	StateOpen    State = "open"    // not done, nothing to wait for: Next may pick it
	StateBlocked State = "blocked" // not done, waiting for WaitingOn

	// StateOptional is an open "- [ ]*" item while the repo does not set
	// include_optional: true. Nothing waits for it.
	StateOptional State = "optional"
	// StateInProgress is "- [-]": someone (Kiro, a person) is on it, or
	// Spec Kit deferred it, so Next leaves it alone.
	StateInProgress State = "in_progress"
)

// skipped reports whether o is an optional item the spec leaves out, which
// counts as done for whatever waits on it.
func (s *Spec) skipped(o *Obligation) bool { return o.Optional && !s.IncludeOptional && !o.Done }

// ObligationState is one row of Status.
type ObligationState struct {
	*Obligation
	State     State
	WaitingOn []string // ids not yet done that it waits for, in document order
}

// Status lists every obligation in document order with its state.
func (s *Spec) Status() []ObligationState {
	out := make([]ObligationState, 0, len(s.Obligations))
	for _, o := range s.Obligations {
		st := ObligationState{Obligation: o, State: StateDone}
		switch {
		case o.Done:
		case s.skipped(o):
			st.State = StateOptional
		case o.Marker == '-':
			st.State = StateInProgress
		default:
			st.State = StateOpen
			for _, w := range o.waits {
				if !w.Done && !s.skipped(w) {
					st.WaitingOn = append(st.WaitingOn, w.ID)
				}
			}
			if len(st.WaitingOn) > 0 {
				st.State = StateBlocked
			}
		}
		out = append(out, st)
	}
	return out
}

// Next returns the obligation a cycle should work on: the first open one in
// document order that waits for nothing. ok is false when there is none,
// which a cycle concludes as neutral.
func (s *Spec) Next() (o *Obligation, ok bool) {
	for _, st := range s.Status() {
		if st.State == StateOpen {
			return st.Obligation, true
		}
	}
	return nil, false
}

// link works out what each obligation waits for and reports after: ids that
// name nothing and dependency cycles. An obligation waits for
//
//   - the ids of its own "(after: …)",
//   - its children: a parent is the sum of its nested items, so those go
//     first and the parent is picked once they are done,
//   - the front matter's after: ids, unless it is one of them or something
//     they themselves wait for (that work has to happen first too).
func (s *Spec) link(afterLine int) []*Error {
	var errs []*Error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, &Error{Path: s.Path, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	resolve := func(ids []string, line int) []*Obligation {
		var list []*Obligation
		for _, id := range ids {
			if o := s.byID[id]; o != nil {
				list = addWait(list, o)
			} else {
				fail(line, "after: unknown id %q", id)
			}
		}
		return list
	}

	// Own afters and children first: the front matter's exemptions are
	// computed over these edges.
	for _, o := range s.Obligations {
		o.waits = resolve(o.After, o.Line)
		for _, c := range o.Children {
			o.waits = addWait(o.waits, s.byID[c])
		}
	}
	first := resolve(s.After, afterLine)
	if len(first) > 0 {
		exempt := map[*Obligation]bool{}
		var mark func(o *Obligation)
		mark = func(o *Obligation) {
			if exempt[o] {
				return
			}
			exempt[o] = true
			for _, w := range o.waits {
				mark(w)
			}
		}
		for _, o := range first {
			mark(o)
		}
		for _, o := range s.Obligations {
			if !exempt[o] {
				o.waits = addWait(o.waits, first...)
			}
		}
	}
	// Document order makes WaitingOn read like the spec.
	order := make(map[*Obligation]int, len(s.Obligations))
	for i, o := range s.Obligations {
		order[o] = i
	}
	for _, o := range s.Obligations {
		slices.SortFunc(o.waits, func(a, b *Obligation) int { return order[a] - order[b] })
	}
	return append(errs, s.cycles()...)
}

// cycles reports each dependency cycle once, at the line of the obligation
// where the search entered it, since a cycle can never be drained.
func (s *Spec) cycles() []*Error {
	const (
		unvisited = iota
		active
		finished
	)
	var (
		errs  []*Error
		color = map[*Obligation]int{}
		path  []*Obligation
		visit func(o *Obligation)
	)
	visit = func(o *Obligation) {
		color[o] = active
		path = append(path, o)
		for _, w := range o.waits {
			switch color[w] {
			case unvisited:
				visit(w)
			case active:
				var ids []string
				nested := false
				for i := len(path) - 1; i >= 0; i-- {
					if path[i] == w {
						for j, p := range path[i:] {
							ids = append(ids, p.ID)
							next := w
							if i+j+1 < len(path) {
								next = path[i+j+1]
							}
							nested = nested || next.Parent == p.ID
						}
						break
					}
				}
				ids = append(ids, w.ID)
				msg := "dependency cycle: " + strings.Join(ids, " -> ")
				if nested {
					msg += " (a parent waits for its nested items)"
				}
				errs = append(errs, &Error{Path: s.Path, Line: w.Line, Msg: msg})
			}
		}
		path = path[:len(path)-1]
		color[o] = finished
	}
	for _, o := range s.Obligations {
		if color[o] == unvisited {
			visit(o)
		}
	}
	return errs
}

// addWait appends the obligations not already in list; waits are few, so a
// linear scan beats a set.
func addWait(list []*Obligation, add ...*Obligation) []*Obligation {
	for _, a := range add {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}
