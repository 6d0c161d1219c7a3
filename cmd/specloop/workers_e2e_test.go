package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// TestTwoWorkers: a second `specloop worker` against the same database
// shares the cycles; none runs twice, none is lost, and two cycles of one
// branch never run at once, though they are queued together and either
// process may pick either up.
func TestTwoWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStack(t, stack.Options{Workers: 2})
	_, err := st.AddWorker(ctx)
	require.NoError(t, err)

	// Each process runs at most st.Workers() cycles at a time, and the
	// repo's limit lets both processes' worth run. The implementers of the
	// first cycles wait at a barrier until one more than that wait at
	// once: by then both processes hold a cycle. So both workers running
	// cycles is deterministic, no timing involved. (A blocked implementer
	// ends only by release or by its timeout, which fails its cycle; the
	// timeout only bounds how long a broken build takes to fail.)
	slots := st.Workers()
	barrier := newBarrier(t, slots+1)
	files := stack.SampleRepo(st.AgentBin())
	cfg := heldAgentConfig(st, files[".github/specloop.yml"], barrier.addr)
	// The agent keeps the sample's 2m timeout: the second wave's held
	// agents wait until both `/loop next` of each busy branch are queued,
	// which on this one busy installation (every write through the paced
	// GitHub client) took over 30 s.
	files[".github/specloop.yml"] = cfg + fmt.Sprintf("auditor:\n  command: %s agent-script\nlimits: {concurrent: %d}\n", st.AgentBin(), 2*slots)
	const repo = "pair"
	addRepo(t, st, repo, files)

	// First wave: one cycle on each of six branches.
	const branches = 6
	issues := make([]int, branches)
	for i := range issues {
		issues[i] = openLabelledIssue(t, st, repo, fmt.Sprintf("- [ ] [w%d-a] Parallel work %d\n- [ ] [w%d-b] More %d\n- [ ] [w%d-c] Last %d", i, i, i, i, i, i))
	}
	runs := make([]*store.Run, branches)
	first := make([]*store.Cycle, branches)
	workers := map[string]int{} // worker → first-wave cycles it ran
	for i, issue := range issues {
		run, cycles := waitCycles(t, st, repo, issue, 1)
		require.Len(t, cycles, 1)
		runs[i], first[i] = run, cycles[0]
		workers[workerOf(cycles[0].LeaseOwner)]++
	}
	require.Len(t, workers, 2, "both processes ran first-wave cycles (cycles per worker: %v)", workers)
	for i, c := range first {
		require.Equal(t, state.Success, c.Conclusion, c.Summary)
		require.NotZero(t, runs[i].PR, "issue #%d: a PR", issues[i])
	}
	require.GreaterOrEqual(t, barrier.arrived(), slots+1)

	// Second wave: two `/loop next` at once on three of the PRs queue two
	// cycles on one branch; they must run one after the other, each on
	// the next obligation. The barrier holds the first of each pair in
	// its agent until the second is queued too, so both processes' workers
	// see a branch with a cycle running and one waiting.
	const busy = 3
	barrier.hold()
	before := barrier.arrived()
	for _, run := range runs[:busy] {
		comment(t, st, "maintainer", repo, run.PR, "/loop next")
		comment(t, st, "maintainer", repo, run.PR, "/loop next")
	}
	waitFor(t, "a cycle of each busy branch in its agent and another queued behind it", func() bool {
		if barrier.arrived() < before+busy {
			return false
		}
		for _, run := range runs[:busy] {
			if cycles, err := store.ListCycles(ctx, st.Server.Pool, run.ID); err != nil || len(cycles) < 3 {
				return false
			}
		}
		return true
	})
	barrier.release()
	want := map[int64][]string{}
	for i, run := range runs {
		if i < busy {
			want[run.ID] = []string{fmt.Sprintf("w%d-a", i), fmt.Sprintf("w%d-b", i), fmt.Sprintf("w%d-c", i)}
		} else {
			want[run.ID] = []string{fmt.Sprintf("w%d-a", i)}
		}
	}
	all := map[string]bool{}
	for i, run := range runs {
		_, cycles := waitCycles(t, st, repo, issues[i], len(want[run.ID]))
		for _, c := range cycles {
			all[workerOf(c.LeaseOwner)] = true
		}
	}
	require.Len(t, all, 2, "only the two processes ran cycles: %v", all)

	for i, run := range runs {
		cycles, err := store.ListCycles(ctx, st.Server.Pool, run.ID)
		require.NoError(t, err)
		var got []string
		for _, c := range cycles {
			require.Equal(t, state.CycleDone, c.State, "cycle %d", c.ID)
			require.Equal(t, state.Success, c.Conclusion, "cycle %d: %s", c.ID, c.Summary)
			require.Equal(t, 1, c.Attempts, "cycle %d was claimed once", c.ID)
			got = append(got, c.ObligationID)
			// One job per cycle, completed (River marks it so just after
			// the cycle is done): none failed, none taken over.
			jobs := waitJobsDone(t, st, "cycle", map[string]any{"cycle_id": c.ID})
			require.Len(t, jobs, 1, "cycle %d: one job", c.ID)
			require.Equal(t, "completed", jobs[0].State, "cycle %d's job: %v", c.ID, jobs[0].Errors)
			require.Empty(t, jobs[0].Errors, "cycle %d's job never failed", c.ID)
		}
		require.Equal(t, want[run.ID], got, "issue #%d: every cycle ran once, each on the next obligation", issues[i])
		spans := requireOneAtATime(t, ctx, st, run.ID, cycles)
		if i < busy {
			// The situation happened: the third cycle was queued while the
			// second was running.
			third, second := spans[cycles[2].ID], spans[cycles[1].ID]
			require.Less(t, third.queued, second.last, "issue #%d: cycle %d was queued while cycle %d ran", issues[i], cycles[2].ID, cycles[1].ID)
		}
	}
}

// cycleSpan is where a cycle's events fall in its run's sequence.
type cycleSpan struct {
	cycle                 int64
	queued                int64 // its "queued" event
	first, last           int64 // its first and last step events
	implStarted, finished int
}

// requireOneAtATime checks a run's events: each cycle ran its agent once
// and ended once, and no cycle's steps came between the first and last step
// of another. Event numbers are the run's own sequence, written by whichever
// worker ran the step, so this needs no clock.
func requireOneAtATime(t *testing.T, ctx context.Context, st *stack.Stack, runID int64, cycles []*store.Cycle) map[int64]*cycleSpan {
	t.Helper()
	evs, err := store.ListEvents(ctx, st.Server.Pool, runID, 0, 10000)
	require.NoError(t, err)
	spans := map[int64]*cycleSpan{}
	for _, c := range cycles {
		spans[c.ID] = &cycleSpan{cycle: c.ID}
	}
	for _, e := range evs {
		s := spans[e.CycleID]
		if s == nil {
			continue
		}
		switch {
		case e.Kind == "step":
			if s.first == 0 {
				s.first = e.Seq
			}
			s.last = e.Seq
			if e.Step == "implement" && e.Outcome == "started" {
				s.implStarted++
			}
		case e.Kind == "cycle" && e.Outcome == "queued":
			s.queued = e.Seq
		case e.Kind == "cycle":
			s.finished++
		}
	}
	var ordered []*cycleSpan
	for _, s := range spans {
		require.Equal(t, 1, s.implStarted, "cycle %d: the agent ran once", s.cycle)
		require.Equal(t, 1, s.finished, "cycle %d: one conclusion", s.cycle)
		require.NotZero(t, s.first, "cycle %d: steps recorded", s.cycle)
		ordered = append(ordered, s)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].first < ordered[j].first })
	for i := 1; i < len(ordered); i++ {
		a, b := ordered[i-1], ordered[i]
		require.Less(t, a.last, b.first, "run %d: cycle %d (events %d–%d) and cycle %d (events %d–%d) ran at once",
			runID, a.cycle, a.first, a.last, b.cycle, b.first, b.last)
		require.Less(t, a.cycle, b.cycle, "run %d: cycles ran in the order they were queued", runID)
	}
	return spans
}

// workerOf is the worker process part of a cycle's lease owner
// ("<worker>/job-<id>").
func workerOf(leaseOwner string) string {
	w, _, _ := strings.Cut(leaseOwner, "/job-")
	return w
}

// barrier holds every connection until n have arrived, then answers them
// all, and later ones at once, until hold closes it again (then release
// opens it). `specloop await-barrier ADDR` (this test binary, in TestMain)
// connects and waits for the answer.
type barrier struct {
	addr string
	mu   sync.Mutex
	n    int // opens by itself at this many arrivals; 0 after hold
	got  int
	open chan struct{}
}

func newBarrier(t *testing.T, n int) *barrier {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &barrier{addr: ln.Addr().String(), n: n, open: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		b.release()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.got++
			if b.n > 0 && b.got >= b.n {
				b.releaseLocked()
			}
			open := b.open
			b.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				<-open
				fmt.Fprintln(c, "go")
			}()
		}
	}()
	return b
}

// hold makes later arrivals wait for release.
func (b *barrier) hold() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n = 0
	select {
	case <-b.open:
		b.open = make(chan struct{})
	default:
	}
}

func (b *barrier) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releaseLocked()
}

func (b *barrier) releaseLocked() {
	select {
	case <-b.open:
	default:
		close(b.open)
	}
}

// arrived is how many connections the barrier has had.
func (b *barrier) arrived() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got
}

// heldAgentConfig is the sample repo's config cfg with its agent waiting
// at the barrier at addr before it works.
func heldAgentConfig(st *stack.Stack, cfg, addr string) string {
	return strings.Replace(cfg, "command: "+st.AgentBin()+" agent-script",
		fmt.Sprintf("command: \"%[1]s await-barrier %[2]s && %[1]s agent-script\"", st.AgentBin(), addr), 1)
}

// awaitBarrier is `await-barrier ADDR`: it returns 0 once the barrier at
// ADDR answers.
func awaitBarrier(addr string) int {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Println("await-barrier:", err)
		return 1
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "go\n" {
		fmt.Println("await-barrier: no answer:", err)
		return 1
	}
	return 0
}
