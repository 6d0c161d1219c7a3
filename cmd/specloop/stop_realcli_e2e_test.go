package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/specloop/specloop/emulator/modelapi"
	"github.com/specloop/specloop/internal/agentclis"
	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestStopHeldRealAgent: the real Codex CLI of a cycle is inside a model
// request that the model-API stand-in holds (the request went through the
// model bridge, and under SANDBOX=kubernetes through the socket forward out
// of the pod), and a maintainer comments `/loop stop` on the PR. The
// agent's sandbox goes (under kubernetes: its pod is deleted), the cycle
// concludes cancelled, nothing is pushed and the comment is answered. The
// lease is stopLease: the stop came by notification, not at a heartbeat.
func TestStopHeldRealAgent(t *testing.T) {
	// Not parallel: the worker's environment is the process's (t.Setenv).
	clis := agentclis.Dir(t)
	api := modelapi.New()
	url, err := api.Start()
	require.NoError(t, err)
	t.Cleanup(api.Close)
	t.Setenv("PATH", filepath.Join(clis, "node_modules", ".bin")+":"+os.Getenv("PATH"))
	t.Setenv("CODEX_API_KEY", e2eKey)
	t.Setenv("OPENAI_BASE_URL", url+"/v1")
	st := newStack(t, stack.Options{LeaseTTL: stopLease})
	ctx := context.Background()
	repo := "stop-codex"
	addRepo(t, st, repo, map[string]string{
		"README.md":            "# " + repo + "\n",
		".github/specloop.yml": "agent: codex\nverify: {command: \"true\"}\n",
	})
	verdict := map[string]any{"verdict": "pass", "summary": "done", "findings": []any{}}
	api.Append(modelapi.Step{Shell: "echo one > one.txt"}, modelapi.Step{Text: "Wrote one.txt."}, modelapi.Step{Structured: verdict})
	issue := openLabelledIssue(t, st, repo, "- [ ] [s-1] Write one.txt\n- [ ] [s-2] Write two.txt")
	run, cycles := waitCycles(t, st, repo, issue, 1)
	require.Equal(t, state.Success, cycles[0].Conclusion, cycles[0].Summary)
	require.NotZero(t, run.PR)
	head := prOf(st, repo, run.Branch).GetHead().GetSHA()

	// The next cycle's agent asks the model and is kept waiting.
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	api.Append(modelapi.Step{Shell: "echo two > two.txt", Hold: hold})
	gh := st.UserClient("maintainer")
	_, _, err = gh.Issues.CreateComment(ctx, st.Owner, repo, run.PR, &github.IssueComment{Body: github.String("/loop next")})
	require.NoError(t, err)
	await(t, "the agent's model request held", api.Held())
	var next int64
	require.NoError(t, st.Server.Pool.QueryRow(ctx, "SELECT id FROM cycles WHERE run_id = $1 AND state = 'running'", run.ID).Scan(&next))
	pods := func() int { return -1 }
	if testSandbox() == "kubernetes" {
		rc, err := sandbox.KubeRESTConfig(os.Getenv)
		require.NoError(t, err)
		kc, err := kubernetes.NewForConfig(rc)
		require.NoError(t, err)
		ns := os.Getenv("KUBE_NAMESPACE")
		pods = func() int {
			l, err := kc.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sandbox.KubeLabelCycle + "=" + strconv.FormatInt(next, 10)})
			require.NoError(t, err)
			return len(l.Items)
		}
		require.Equal(t, 1, pods(), "the held agent runs in a pod of its own")
	}

	stop, _, err := gh.Issues.CreateComment(ctx, st.Owner, repo, run.PR, &github.IssueComment{Body: github.String("/loop stop")})
	require.NoError(t, err)
	gone := await(t, "the held agent's request given up (its sandbox killed)", api.Gone())
	waitComment(t, st, repo, run.PR, stop.GetID(), "stopped")
	var committed time.Time
	waitFor(t, "the stop's delivery", func() bool {
		return st.Server.Pool.QueryRow(ctx, `SELECT d.received_at FROM river_job j JOIN deliveries d ON d.guid = j.args->>'delivery'
			WHERE j.kind = 'command' AND (j.args->>'comment_id')::bigint = $1`, stop.GetID()).Scan(&committed) == nil
	})
	var got *store.Cycle
	waitFor(t, "the stopped cycle done", func() bool {
		got, err = store.GetCycle(ctx, st.Server.Pool, next)
		require.NoError(t, err)
		return got.State == state.CycleDone
	})
	t.Logf("/loop stop under %s: delivery committed → agent's request given up %s, → cycle done %s", testSandbox(),
		gone.Sub(committed).Round(time.Millisecond), got.FinishedAt.Sub(committed).Round(time.Millisecond))
	require.Equal(t, state.Cancelled, got.Conclusion, got.Summary)
	require.Equal(t, "Stopped on request; nothing more was pushed.", got.Summary)
	// A generous bound: the figure is in the log line above.
	require.Less(t, got.FinishedAt.Sub(committed), 30*time.Second)
	if testSandbox() == "kubernetes" {
		require.Zero(t, pods(), "the stopped agent's pod is gone")
	}
	require.Equal(t, head, prOf(st, repo, run.Branch).GetHead().GetSHA(), "nothing pushed")
	r, err := store.GetRun(ctx, st.Server.Pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, state.RunStopped, r.State)
}
