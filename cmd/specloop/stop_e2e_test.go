package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// stopLease is the lease of the stop tests' stack: its heartbeat, the
// fallback that also carries a stop, comes every stopLease/3 = 10 minutes,
// long after waitLimit. A stop seen within waitLimit came by notification.
const stopLease = 30 * time.Minute

// agentHold stands between a cycle's agent and its work: the agent command
// runs `specloop await-barrier ADDR`, which connects and waits for "go".
// The first pass connections are answered; later ones are held, each
// reported on held, and when a held agent's process ends (the sandbox
// killed it) its connection closes and gone gets the time.
type agentHold struct {
	addr string
	held chan struct{}
	gone chan time.Time

	mu   sync.Mutex
	pass int
}

func newAgentHold(tb testing.TB, pass int) *agentHold {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	h := &agentHold{addr: ln.Addr().String(), held: make(chan struct{}, 64), gone: make(chan time.Time, 64), pass: pass}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			through := h.pass > 0
			h.pass--
			h.mu.Unlock()
			if through {
				fmt.Fprintln(c, "go")
				c.Close()
				continue
			}
			h.held <- struct{}{}
			wg.Go(func() {
				defer c.Close()
				// The agent never writes: this returns when its end closes.
				_, _ = io.Copy(io.Discard, c)
				h.gone <- time.Now()
			})
		}
	})
	return h
}

// await waits for a value of ch; the bound only ends a broken test.
func await[T any](tb testing.TB, what string, ch <-chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		tb.Fatalf("gave up waiting: %s", what)
		panic("unreachable")
	}
}

// stopScene is a run whose first cycle succeeded and opened a PR; every
// later cycle's agent is held until it is killed.
type stopScene struct {
	st    *stack.Stack
	hold  *agentHold
	repo  string
	issue int
	run   *store.Run
	head  string // the PR branch's head after the first cycle
}

func newStopScene(tb testing.TB, st *stack.Stack, repo string) *stopScene {
	tb.Helper()
	ctx := context.Background()
	s := &stopScene{st: st, hold: newAgentHold(tb, 1), repo: repo}
	files := stack.SampleRepo(st.AgentBin())
	files[".github/specloop.yml"] = heldAgentConfig(st, files[".github/specloop.yml"], s.hold.addr)
	// An agent timeout past waitLimit: only the stop can end a held agent in time.
	files[".github/specloop.yml"] = strings.Replace(files[".github/specloop.yml"], "timeout: 2m", "timeout: 30m", 1) +
		fmt.Sprintf("auditor:\n  command: %s agent-script\nlimits: {cycles_per_pr: 1000}\n", st.AgentBin())
	_, err := st.Emulator.CreateRepo(st.Owner, repo, repoOpts(files))
	require.NoError(tb, err)
	for user, perm := range map[string]string{"maintainer": "admin", "reader": "read"} {
		st.Emulator.SetPermission(st.Owner, repo, user, perm)
	}
	st.Emulator.Install(st.Owner, repo)

	gh := st.UserClient("maintainer")
	var body strings.Builder
	for i := range 100 {
		fmt.Fprintf(&body, "- [ ] [s-%d] Obligation %d\n", i, i)
	}
	issue, _, err := gh.Issues.Create(ctx, st.Owner, repo, issueReq(body.String()))
	require.NoError(tb, err)
	s.issue = issue.GetNumber()
	_, _, err = gh.Issues.AddLabelsToIssue(ctx, st.Owner, repo, s.issue, []string{"specloop"})
	require.NoError(tb, err)
	run, cycles, err := st.WaitCycles(ctx, repo, s.issue, 1, waitLimit)
	require.NoError(tb, err)
	require.Equal(tb, state.Success, cycles[0].Conclusion, cycles[0].Summary)
	require.NotZero(tb, run.PR)
	s.run = run
	s.head, err = st.Emulator.Ref(st.Owner, repo, "heads/"+run.Branch)
	require.NoError(tb, err)
	return s
}

// next starts the next cycle with `/loop next`.
func (s *stopScene) next(tb testing.TB) {
	tb.Helper()
	_, _, err := s.st.UserClient("maintainer").Issues.CreateComment(context.Background(), s.st.Owner, s.repo, s.run.PR, &github.IssueComment{Body: github.String("/loop next")})
	require.NoError(tb, err)
}

// held returns the running cycle once its agent is held.
func (s *stopScene) held(tb testing.TB) *store.Cycle {
	tb.Helper()
	await(tb, "the next cycle's agent held", s.hold.held)
	cycles, err := store.ListCycles(context.Background(), s.st.Server.Pool, s.run.ID)
	require.NoError(tb, err)
	i := slices.IndexFunc(cycles, func(c *store.Cycle) bool { return c.State == state.CycleRunning })
	require.NotEqual(tb, -1, i, "a cycle is running")
	return cycles[i]
}

// finished waits until cycle id is done and returns it.
func (s *stopScene) finished(tb testing.TB, id int64) *store.Cycle {
	tb.Helper()
	var c *store.Cycle
	waitFor(tb, fmt.Sprintf("cycle %d done", id), func() bool {
		var err error
		c, err = store.GetCycle(context.Background(), s.st.Server.Pool, id)
		require.NoError(tb, err)
		return c.State == state.CycleDone
	})
	return c
}

// stopTrigger is a maintainer's way of stopping a run, and the job its
// delivery queues (kind and args it contains), whose delivery's commit
// the latency is measured from.
type stopTrigger struct {
	name string
	fire func(tb testing.TB, s *stopScene) (kind string, args map[string]any)
	// resume starts a cycle of the stopped run, for the next round.
	resume func(tb testing.TB, s *stopScene)
}

var stopTriggers = []stopTrigger{
	{"loop stop", func(tb testing.TB, s *stopScene) (string, map[string]any) {
		c, _, err := s.st.UserClient("maintainer").Issues.CreateComment(context.Background(), s.st.Owner, s.repo, s.run.PR, &github.IssueComment{Body: github.String("/loop stop")})
		require.NoError(tb, err)
		return "command", map[string]any{"comment_id": c.GetID()}
	}, func(tb testing.TB, s *stopScene) { s.next(tb) }},
	{"unlabel", func(tb testing.TB, s *stopScene) (string, map[string]any) {
		_, err := s.st.UserClient("maintainer").Issues.RemoveLabelForIssue(context.Background(), s.st.Owner, s.repo, s.issue, "specloop")
		require.NoError(tb, err)
		return "issue_label", map[string]any{"issue": s.issue, "labeled": false}
	}, func(tb testing.TB, s *stopScene) {
		// Labelled again, the issue's run queues a cycle.
		_, _, err := s.st.UserClient("maintainer").Issues.AddLabelsToIssue(context.Background(), s.st.Owner, s.repo, s.issue, []string{"specloop"})
		require.NoError(tb, err)
	}},
	{"close PR", func(tb testing.TB, s *stopScene) (string, map[string]any) {
		_, _, err := s.st.UserClient("maintainer").PullRequests.Edit(context.Background(), s.st.Owner, s.repo, s.run.PR, &github.PullRequest{State: github.String("closed")})
		require.NoError(tb, err)
		return "pull_closed", map[string]any{"pr": s.run.PR}
	}, func(tb testing.TB, s *stopScene) {
		_, _, err := s.st.UserClient("maintainer").PullRequests.Edit(context.Background(), s.st.Owner, s.repo, s.run.PR, &github.PullRequest{State: github.String("open")})
		require.NoError(tb, err)
		s.next(tb)
	}},
}

// deliveryCommitted is when the transaction of the delivery that queued
// the job of kind with args began (received_at is its now()): at most the
// delivery's commit, so a latency measured from it is never too small.
func deliveryCommitted(tb testing.TB, st *stack.Stack, kind string, args map[string]any) time.Time {
	tb.Helper()
	filter, err := json.Marshal(args)
	require.NoError(tb, err)
	var at time.Time
	waitFor(tb, fmt.Sprintf("the %s job %s", kind, filter), func() bool {
		err := st.Server.Pool.QueryRow(context.Background(), `SELECT d.received_at FROM river_job j JOIN deliveries d ON d.guid = j.args->>'delivery'
			WHERE j.kind = $1 AND j.args @> $2::jsonb ORDER BY j.id DESC LIMIT 1`, kind, string(filter)).Scan(&at)
		return err == nil
	})
	return at
}

// TestStopRunningCycle: a cycle is in its agent when a maintainer stops
// the run (`/loop stop`, removing the label, closing the PR). The agent's
// process is killed (its connection to the hold closes), the cycle
// concludes cancelled with its check runs completed, nothing is pushed,
// and `/loop stop` is answered. The lease is so long that its heartbeat
// would come only after waitLimit: the stop came by notification.
func TestStopRunningCycle(t *testing.T) {
	t.Parallel()
	for i, tr := range stopTriggers {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			st := newStack(t, stack.Options{LeaseTTL: stopLease})
			s := newStopScene(t, st, fmt.Sprintf("stop-%d", i))
			s.next(t)
			c := s.held(t)
			start := c.HeadSHA
			require.NotEmpty(t, start, "the running cycle recorded its start commit")
			// The situation under test: the cycle is in its agent, whose
			// check run is in progress.
			require.Equal(t, "in_progress", checksAt(st, s.repo, start, c.ID)["specloop/implement"].GetStatus())

			kind, args := tr.fire(t, s)
			await(t, "the agent's process gone", s.hold.gone)
			got := s.finished(t, c.ID)
			require.Equal(t, state.Cancelled, got.Conclusion)
			require.Equal(t, "Stopped on request; nothing more was pushed.", got.Summary)

			checks := checksAt(st, s.repo, start, c.ID)
			require.Len(t, checks, 3)
			for name, cr := range checks {
				require.Equal(t, "completed", cr.GetStatus(), name)
			}
			require.Equal(t, string(state.Cancelled), checks["specloop/implement"].GetConclusion())
			for _, name := range []string{"specloop/verify", "specloop/audit"} {
				require.Equal(t, string(state.Skipped), checks[name].GetConclusion(), name)
			}
			head, err := st.Emulator.Ref(st.Owner, s.repo, "heads/"+s.run.Branch)
			require.NoError(t, err)
			require.Equal(t, s.head, head, "nothing pushed")
			run, err := store.GetRun(context.Background(), st.Server.Pool, s.run.ID)
			require.NoError(t, err)
			require.Equal(t, state.RunStopped, run.State)
			if kind == "command" {
				waitComment(t, st, s.repo, s.run.PR, args["comment_id"].(int64), "stopped: 1 cycle(s) cancelled")
			}
		})
	}
}

// BenchmarkStopLatency measures, for each way of stopping a run, the time
// from the stopping delivery's commit to the exit of the agent's process in
// the sandbox, over b.N rounds on one stack (lease 30 min: no heartbeat
// helps). It reports p50 and max.
func BenchmarkStopLatency(b *testing.B) {
	for i, tr := range stopTriggers {
		b.Run(strings.ReplaceAll(tr.name, " ", "-"), func(b *testing.B) {
			st, err := stack.Start(context.Background(), stack.Options{Workers: 1, LeaseTTL: stopLease, Sandbox: testSandbox()})
			require.NoError(b, err)
			b.Cleanup(st.Close)
			s := newStopScene(b, st, fmt.Sprintf("stop-bench-%d", i))
			var took []time.Duration
			b.ResetTimer()
			for round := range b.N {
				if round == 0 {
					s.next(b)
				} else {
					tr.resume(b, s)
				}
				c := s.held(b)
				kind, args := tr.fire(b, s)
				gone := await(b, "the agent's process gone", s.hold.gone)
				took = append(took, gone.Sub(deliveryCommitted(b, st, kind, args)))
				require.Equal(b, state.Cancelled, s.finished(b, c.ID).Conclusion)
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
		})
	}
}
