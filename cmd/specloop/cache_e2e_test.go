package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestConfigCacheFollowsPushes: the repo config is read once per
// default-branch commit and cached, and a push to the default branch makes
// the next job read it again: a label renamed in the config works at once.
func TestConfigCacheFollowsPushes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{})
	first := openLabelledIssue(t, st, st.Repo, "- [ ] [c-1] Cache the config")
	waitCycles(t, st, st.Repo, first, 1) // the config of this commit is cached now
	cached, err := store.GetRepoConfig(ctx, st.Server.Pool, st.Owner+"/"+st.Repo)
	require.NoError(t, err)
	require.False(t, cached.Stale)

	dir, git := cloneAs(t, st, st.Repo)
	cfgPath := filepath.Join(dir, ".github", "specloop.yml")
	b, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfgPath, append(b, []byte("label: robot\n")...), 0o644))
	git("commit", "-qam", "rename the label")
	git("push", "-q", "origin", "main")
	require.NoError(t, st.Emulator.WaitDeliveries(ctx))

	gh := st.UserClient("maintainer")
	issue, _, err := gh.Issues.Create(ctx, st.Owner, st.Repo, &github.IssueRequest{Title: github.String("robot"), Body: github.String("- [ ] [r-1] Obey the new label")})
	require.NoError(t, err)
	_, _, err = gh.Issues.AddLabelsToIssue(ctx, st.Owner, st.Repo, issue.GetNumber(), []string{"robot"})
	require.NoError(t, err)
	run, cycles := waitCycles(t, st, st.Repo, issue.GetNumber(), 1)
	require.Equal(t, state.RunIssue, run.Kind, "the label the pushed config names starts a run")
	require.NotEmpty(t, cycles)

	head, err := st.Emulator.Ref(st.Owner, st.Repo, "heads/main")
	require.NoError(t, err)
	cached, err = store.GetRepoConfig(ctx, st.Server.Pool, st.Owner+"/"+st.Repo)
	require.NoError(t, err)
	require.Equal(t, head, cached.HeadSHA, "the cache holds the pushed commit's config")
	require.True(t, strings.Contains(string(cached.Config), "label: robot"))
}
