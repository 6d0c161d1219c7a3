// Package cycle is the engine: one bounded pass on one obligation of a spec,
// on one working copy: select → implement → verify (→ fix) → audit, with a
// typed Result (a state.Conclusion and each step's Evidence) and progress
// reported through a Reporter.
//
// It knows no store, no River and no GitHub (a test enforces it), so the
// workers and `specloop cycle` on a local checkout run the same engine;
// publishing and check runs are packages publish and evidence.
package cycle
