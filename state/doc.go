// Package state names the conclusions a cycle ends in, the states a cycle
// and a run move through, and the kinds of run. It imports nothing, so the
// store, the engine, the workers and the pages share one vocabulary (as
// river's rivertype does for job states); the database checks the same
// values with CHECK constraints.
package state
