package main

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/jobs"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// BenchmarkGitHubRequestsWaiting counts the GitHub requests a cycle costs
// while it waits behind `limits.concurrent` (the other cycle's agent sleeps
// and asks GitHub nothing), as requests an hour. Target: 0. It reads the
// emulator's own count of the requests it answered.
func BenchmarkGitHubRequestsWaiting(b *testing.B) {
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Options{Workers: 2})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	files := stack.SampleRepo(st.AgentBin())
	files[".github/specloop.yml"] = "agent:\n  command: sleep 600\n  timeout: 15m\nlimits: {concurrent: 1}\n"
	addRepoB(b, st, "limited", files)
	first := labelB(b, st, "limited", "- [ ] [w-1] Take the only slot")
	waitRunning(b, st, "limited", first)
	second := labelB(b, st, "limited", "- [ ] [w-2] Wait for it")
	waitQueuedAndAcknowledged(b, st, "limited", second)
	// One schedule tick first, so the window holds only the waiting
	// cycle's requests and not the schedule's first read of each repo.
	tick(b, st)

	const window = 10 * time.Second
	var total int
	by := map[string]int{}
	b.ResetTimer()
	for range b.N {
		before := st.Emulator.Served()
		time.Sleep(window) // the measurement window: count what arrives in it
		for k, n := range diff(before, st.Emulator.Served()) {
			by[k] += n
			total += n
		}
	}
	b.ReportMetric(float64(total)/float64(b.N)*float64(time.Hour/window), "requests/hour")
	logRoutes(b, by)
}

// BenchmarkGitHubRequestsSchedule counts the GitHub requests of a repo's
// schedule: the minutely tick that reads each active repo's config to see
// whether a drain is due, as requests and config reads an hour (60 ticks).
// Target: one config read per default-branch commit, so 0 once read.
func BenchmarkGitHubRequestsSchedule(b *testing.B) {
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	// The tick the client runs at start has read the config once.
	tick(b, st)
	const ticks = 20
	var total, reads int
	by := map[string]int{}
	b.ResetTimer()
	for range b.N {
		before := st.Emulator.Served()
		for range ticks {
			tick(b, st)
		}
		for k, n := range diff(before, st.Emulator.Served()) {
			by[k] += n
			total += n
			if strings.HasSuffix(k, "/contents/.github/specloop.yml") {
				reads += n
			}
		}
	}
	b.ReportMetric(float64(total)/float64(b.N*ticks)*60, "requests/hour")
	b.ReportMetric(float64(reads)/float64(b.N*ticks)*60, "config-reads/hour")
	logRoutes(b, by)
}

// tick runs one schedule job to completion.
func tick(b *testing.B, st *stack.Stack) {
	ctx := context.Background()
	res, err := st.Server.River.Insert(ctx, jobs.ScheduleArgs{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		j, err := st.Server.River.JobGet(ctx, res.Job.ID)
		if err != nil {
			b.Fatal(err)
		}
		if j.State == rivertype.JobStateCompleted {
			return
		}
		if j.State == rivertype.JobStateDiscarded || j.State == rivertype.JobStateCancelled {
			b.Fatalf("schedule job %s: %v", j.State, j.Errors)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatal("schedule job did not complete")
}

// waitRunning waits until the issue's first cycle is in its agent step.
func waitRunning(b *testing.B, st *stack.Stack, repo string, issue int) {
	waitFor(b, "the first cycle in its agent", func() bool {
		cy := firstCycle(b, st, repo, issue)
		if cy == nil || cy.State != state.CycleRunning {
			return false
		}
		evs, err := store.ListEvents(context.Background(), st.Server.Pool, cy.RunID, 0, 1000)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range evs {
			if e.CycleID == cy.ID && e.Step == "implement" && e.Outcome == "started" {
				return true
			}
		}
		return false
	})
}

// waitQueuedAndAcknowledged waits until the issue's cycle is queued and the
// label was answered, so only the waiting cycle asks GitHub anything.
func waitQueuedAndAcknowledged(b *testing.B, st *stack.Stack, repo string, issue int) {
	waitFor(b, "the second cycle queued and its label answered", func() bool {
		cy := firstCycle(b, st, repo, issue)
		return cy != nil && cy.State == state.CycleQueued && botComments(st, repo, issue, "specloop picked this up") == 1
	})
}

func firstCycle(b *testing.B, st *stack.Stack, repo string, issue int) *store.Cycle {
	ctx := context.Background()
	run, err := store.FindRun(ctx, st.Server.Pool, st.Owner+"/"+repo, issue)
	if err != nil {
		return nil
	}
	cycles, err := store.ListCycles(ctx, st.Server.Pool, run.ID)
	if err != nil {
		b.Fatal(err)
	}
	if len(cycles) == 0 {
		return nil
	}
	return cycles[0]
}

func diff(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, n := range after {
		if d := n - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func logRoutes(b *testing.B, by map[string]int) {
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.Logf("%6d  %s", by[k], k)
	}
	if len(keys) == 0 {
		b.Log("no GitHub requests")
	}
}
