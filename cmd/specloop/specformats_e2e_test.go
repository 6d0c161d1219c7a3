package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestSpecFormatsCycle runs cycles on a Spec Kit, a Kiro and an OpenSpec
// repo laid out as those tools lay them out, with no specs: in the config:
// a push posts the specloop/spec check listing the task file's
// obligations, the cycle it starts does the right task and ticks it byte
// for byte in the file's own style, and /loop next takes the next one.
func TestSpecFormatsCycle(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		context map[string]string // in the repo from the start: documents beside the task file
		task    string            // the task file, pushed
		src     string
		extra   map[string]string // pushed beside it
		first   string            // the first cycle's obligation
		ticked1 string            // the task file on the run's branch after it
		second  string
		ticked2 string
		check   []string // the specloop/spec check's summary holds these
		prompt  []string // the first implementer prompt holds these
		outside string   // and not this, from another section of the task file
	}{
		{
			name: "spec kit",
			context: map[string]string{
				".specify/memory/constitution.md":              "# Constitution\n",
				"specs/001-widgets/spec.md":                    "# Feature\n\n- **FR-001**: System MUST store widgets\n",
				"specs/001-widgets/plan.md":                    "# Plan\n\n- [ ] Constitution gate: simplicity\n",
				"specs/001-widgets/quickstart.md":              "# Quickstart\n",
				"specs/001-widgets/checklists/requirements.md": "- [ ] CHK001 Are requirements testable?\n",
				"specs/001-widgets/contracts/widgets-api.md":   "# API\n",
			},
			task: "specs/001-widgets/tasks.md",
			src: "---\ndescription: \"Task list for widgets\"\n---\n# Tasks: Widgets\n\n## Phase 1: Setup\n\n" +
				"- [X] T001 Create project structure\n\n## Phase 2: User Story 1 - Store widgets (Priority: P1)\n\n" +
				"- [ ] T002 [P] [US1] Persist widgets in src/widgets.go\n- [ ] T003 [US1] List widgets in src/api.go (depends on T002)\n",
			first:   "T002",
			ticked1: "- [X] T002 [P] [US1] Persist",
			second:  "T003",
			ticked2: "- [X] T003 [US1] List",
			check:   []string{"`specs/001-widgets/tasks.md` (spec-kit)", "| `T001` |", "| `T002` |", "| `T003` |", "unknown key \"description\" ignored"},
			prompt:  []string{"- Format: spec-kit\n", "- Tags: P, US1\n", "`specs/001-widgets/plan.md`", "`specs/001-widgets/contracts/`", "`.specify/memory/constitution.md`"},
			outside: "T001 Create project structure",
		},
		{
			name: "kiro",
			context: map[string]string{
				".kiro/specs/widgets/requirements.md": "# Requirements\n\n### Requirement 1\n\n#### Acceptance Criteria\n\n1. WHEN a widget is saved THEN the system SHALL persist it.\n2. IF a widget has no name THEN the system SHALL reject it.\n",
				".kiro/specs/widgets/design.md":       "# Design\n",
			},
			task: ".kiro/specs/widgets/tasks.md",
			src: "# Implementation Plan\n\n- [x] 1. Set up the project\n\n- [ ] 2. Storage\n- [ ]* 2.1 Write property tests\n  - _Requirements: 1.1_\n" +
				"- [ ] 2.2 Persist widgets\n  - Use one table\n  - _Requirements: 1.1_\n- [ ] 2.3 Reject widgets without a name\n  - _Requirements: 1.2_\n",
			first:   "2.2",
			ticked1: "- [x] 2.2 Persist",
			second:  "2.3",
			ticked2: "- [x] 2.3 Reject",
			check:   []string{"`.kiro/specs/widgets/tasks.md` (kiro)", "| :heavy_minus_sign: optional | `2.1` |", "| `2.2` |", "| `2.3` |"},
			prompt:  []string{"- Format: kiro\n", "- Use one table\n", "- `1.1`: WHEN a widget is saved THEN the system SHALL persist it.\n", "`.kiro/specs/widgets/design.md`"},
			outside: "1. Set up the project",
		},
		{
			name: "openspec",
			context: map[string]string{
				"openspec/project.md":                                "# Project\n",
				"openspec/specs/widgets/spec.md":                     "# Widgets\n",
				"openspec/changes/add-widgets/proposal.md":           "# Why\n",
				"openspec/changes/add-widgets/specs/widgets/spec.md": "## ADDED Requirements\n",
			},
			task:  "openspec/changes/add-widgets/tasks.md",
			src:   "## 1. Storage\n\n- [x] 1.1 Create the table\n- [ ] 1.2 Persist widgets\n\n## 2. API\n\n- [ ] 2.1 List widgets\n",
			extra: map[string]string{"openspec/changes/archive/2025-01-01-old/tasks.md": "## 1. Old\n\n- [ ] 1.1 Archived work\n"},
			first: "1.2", ticked1: "- [x] 1.2 Persist",
			second: "2.1", ticked2: "- [x] 2.1 List",
			check:   []string{"`openspec/changes/add-widgets/tasks.md` (openspec)", "| `1.1` |", "| `1.2` |", "| `2.1` |"},
			prompt:  []string{"- Format: openspec\n", "- Section: 1. Storage\n", "`openspec/changes/add-widgets/proposal.md`", "`openspec/changes/add-widgets/specs/`", "`openspec/specs/`"},
			outside: "2.1 List widgets",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := newStack(t, stack.Options{})
			files := stack.SampleRepo(st.AgentBin())
			delete(files, "specs/widgets.md") // only the tool's own files
			files[repoconfig.Path] += "on_push: cycle\n"
			for p, c := range tt.context {
				files[p] = c
			}
			repo := "formats"
			addRepo(t, st, repo, files)
			cfg, err := repoconfig.Parse([]byte(files[repoconfig.Path]))
			require.NoError(t, err)
			require.Empty(t, cfg.Specs, "discovery, not globs")
			branch := cfg.SpecBranch(tt.task)

			dir, git := cloneAs(t, st, repo)
			for p, c := range tt.extra {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644))
			}
			require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(tt.task)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, tt.task), []byte(tt.src), 0o644))
			git("add", "-A")
			git("commit", "-qm", "tasks")
			git("push", "-q", "origin", "main")
			sha, err := st.Emulator.Ref(st.Owner, repo, "heads/main")
			require.NoError(t, err)

			var summary string
			waitFor(t, "the specloop/spec check on the push", func() bool {
				cr := checksAt(st, repo, sha)["specloop/spec"]
				summary = cr.GetOutput().GetSummary()
				return cr.GetStatus() == "completed"
			})
			require.Equal(t, string(state.Success), checksAt(st, repo, sha)["specloop/spec"].GetConclusion(), "warnings do not fail the check:\n%s", summary)
			for _, w := range tt.check {
				require.Contains(t, summary, w)
			}
			require.NotContains(t, summary, "archive", "archived changes are not specs")
			require.NotContains(t, summary, "plan.md", "context documents are not specs")

			// The push's cycle does the first task and ticks exactly it.
			cycles := waitSpecCycles(t, st, repo, branch, 1)
			require.Equal(t, tt.first, cycles[0].ObligationID)
			require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)
			got, ok := fileAt(t, st, repo, branch, tt.task)
			require.True(t, ok)
			require.Equal(t, tickAt(t, tt.src, tt.ticked1), got, "ticked byte for byte, nothing else changed")
			prompt := artifact(t, st, cycles[0].ID, "prompt-implementer.md")
			for _, w := range tt.prompt {
				require.Contains(t, prompt, w)
			}
			require.NotContains(t, prompt, tt.outside, "the prompt carries the task's section, not the whole file")

			// /loop next takes the next one.
			run, err := store.FindRunByBranch(ctx, st.Server.Pool, st.Owner+"/"+repo, branch)
			require.NoError(t, err)
			pr := prOf(st, repo, branch)
			require.NotNil(t, pr)
			comment(t, st, "maintainer", repo, pr.GetNumber(), "/loop next")
			cycles = waitSpecCycles(t, st, repo, branch, 2)
			require.Equal(t, run.ID, cycles[1].RunID)
			require.Equal(t, tt.second, cycles[1].ObligationID)
			require.Equal(t, state.Success, cycles[1].Conclusion, cycles[1].Summary)
			got, ok = fileAt(t, st, repo, branch, tt.task)
			require.True(t, ok)
			require.Equal(t, tickAt(t, tickAt(t, tt.src, tt.ticked1), tt.ticked2), got)
		})
	}
}

// tickAt returns src with the box of the line starting like ticked (the
// ticked form) ticked as written there.
func tickAt(t *testing.T, src, ticked string) string {
	t.Helper()
	open := ticked[:3] + " " + ticked[4:]
	require.Equal(t, 1, strings.Count(src, open), "%q in %q", open, src)
	return strings.Replace(src, open, ticked, 1)
}

// waitSpecCycles waits until the run on branch has n finished cycles.
func waitSpecCycles(t *testing.T, st *stack.Stack, repo, branch string, n int) []*store.Cycle {
	t.Helper()
	var cycles []*store.Cycle
	waitFor(t, "cycles on "+branch, func() bool {
		r, err := store.FindRunByBranch(context.Background(), st.Server.Pool, st.Owner+"/"+repo, branch)
		if err != nil {
			return false
		}
		cycles, err = store.ListCycles(context.Background(), st.Server.Pool, r.ID)
		if err != nil || len(cycles) < n {
			return false
		}
		for _, c := range cycles[:n] {
			if c.State != state.CycleDone {
				return false
			}
		}
		return true
	})
	return cycles
}

// artifact reads a cycle's artifact by name.
func artifact(t *testing.T, st *stack.Stack, cycleID int64, name string) string {
	t.Helper()
	arts, err := store.ListArtifacts(context.Background(), st.Server.Pool, cycleID)
	require.NoError(t, err)
	for _, a := range arts {
		if a.Name == name {
			full, err := store.GetArtifact(context.Background(), st.Server.Pool, a.ID)
			require.NoError(t, err)
			return string(full.Content)
		}
	}
	t.Fatalf("cycle %d has no artifact %s", cycleID, name)
	return ""
}

// TestSpecPushCheckEveryFormat: one push adding a task file of each format
// (and the documents beside them) gets one specloop/spec check listing the
// obligations of all of them, and none of the context documents.
func TestSpecPushCheckEveryFormat(t *testing.T) {
	t.Parallel()
	st := newStack(t, stack.Options{})
	repo := "everyformat"
	files := stack.SampleRepo(st.AgentBin())
	delete(files, "specs/widgets.md")
	addRepo(t, st, repo, files)
	dir, git := cloneAs(t, st, repo)
	for p, c := range map[string]string{
		"specs/001-kit/tasks.md":              "# Tasks\n\n## Phase 1\n\n- [X] T001 Setup\n- [ ] T002 [P] Model\n",
		"specs/001-kit/plan.md":               "- [ ] gate\n",
		".kiro/specs/k/tasks.md":              "- [ ] 1. Group\n- [-] 1.1 Going\n- [ ]* 1.2 Maybe\n",
		".kiro/specs/k/requirements.md":       "### Requirement 1\n",
		"openspec/changes/c/tasks.md":         "## 1. G\n\n- [ ] 1.1 First\n",
		"openspec/changes/c/proposal.md":      "- [ ] not a task\n",
		"openspec/changes/archive/x/tasks.md": "- [ ] 1.1 Archived\n",
		"specs/plain.md":                      "- [ ] [p-1] Plain work\n",
		"specs/notes.md":                      "# Notes\n\nNo tasks here.\n",
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644))
	}
	git("add", "-A")
	git("commit", "-qm", "every format")
	git("push", "-q", "origin", "main")
	sha, err := st.Emulator.Ref(st.Owner, repo, "heads/main")
	require.NoError(t, err)

	waitFor(t, "the specloop/spec check", func() bool {
		return checksAt(st, repo, sha)["specloop/spec"].GetStatus() == "completed"
	})
	cr := checksAt(st, repo, sha)["specloop/spec"]
	require.Equal(t, string(state.Success), cr.GetConclusion())
	require.Equal(t, "1 done, 3 open, 1 blocked, 1 in progress, 1 optional", cr.GetOutput().GetTitle())
	summary := cr.GetOutput().GetSummary()
	for _, w := range []string{
		"### `specs/001-kit/tasks.md` (spec-kit)", "| `T002` |",
		"### `.kiro/specs/k/tasks.md` (kiro)", "| :hourglass: in progress | `1.1` |", "| :heavy_minus_sign: optional | `1.2` |", "| :no_entry: blocked | `1` |",
		"### `openspec/changes/c/tasks.md` (openspec)", "| `1.1` | First |",
		"### `specs/plain.md`", "| `p-1` |",
	} {
		require.Contains(t, summary, w)
	}
	for _, not := range []string{"plan.md", "proposal.md", "archive", "notes.md", "requirements.md"} {
		require.NotContains(t, summary, not)
	}
}
