package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/procs"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

// gate stands between each cycle's agent and its work, across processes:
// the agent's command line first connects here (bash's /dev/tcp, inside
// the sandbox) and waits for a "go" line. Each connection is reported on
// arrived; the test lets it through (release) or keeps it, and learns when
// the agent's process ended without being let through (gone): its sandbox
// was killed.
type gate struct {
	addr    string
	arrived chan *gateConn
}

type gateConn struct {
	at   time.Time
	gone chan time.Time // gets the time the agent's end closed, unless released

	mu       sync.Mutex
	c        net.Conn
	released bool
}

func newGate(tb testing.TB) *gate {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	g := &gate{addr: ln.Addr().String(), arrived: make(chan *gateConn, 64)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	tb.Cleanup(func() {
		// Held agents may outlive a failed test's processes: let go of
		// them rather than wait.
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			gc := &gateConn{at: time.Now(), c: c, gone: make(chan time.Time, 1)}
			g.arrived <- gc
			wg.Go(func() {
				// The agent never writes: this returns when its end closes.
				_, _ = io.Copy(io.Discard, c)
				gc.mu.Lock()
				released := gc.released
				gc.mu.Unlock()
				if !released {
					gc.gone <- time.Now()
				}
				c.Close()
			})
		}
	})
	return g
}

// release lets the agent go on.
func (gc *gateConn) release() {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	gc.released = true
	fmt.Fprintln(gc.c, "go")
	gc.c.Close()
}

// agent is the command line of an agent held at the gate, then the
// scripted agent.
func (g *gate) agent(bin string) string {
	host, port, _ := net.SplitHostPort(g.addr)
	return fmt.Sprintf(`bash -c 'exec 3<>/dev/tcp/%s/%s && read -r line <&3 && [ "$line" = go ]' && %s agent-script`, host, port, bin)
}

// procScene is a `specloop web` and two `specloop worker` processes on one
// database, the emulator in this process, and a repo whose agents wait at
// a gate.
type procScene struct {
	c       *procs.Cluster
	pool    *pgxpool.Pool
	gate    *gate
	workers map[int]*procs.Proc // by pid
	repo    string
}

// newProcScene starts the scene; env goes to every process (LEASE_TTL,
// SHUTDOWN_GRACE, …).
func newProcScene(t *testing.T, bin string, env ...string) *procScene {
	t.Helper()
	ctx := context.Background()
	db := storetest.URL(t)
	c, err := procs.Start(ctx, procs.Options{Bin: bin, DatabaseURL: db, Dir: publicTempDir(t, "specloop-procs-"),
		Env: append([]string{"WORKERS=1", "SANDBOX=" + testSandbox()}, env...)})
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			t.Logf("web log:\n%s", tail(c.Web.Log(), 40))
		}
	})
	s := &procScene{c: c, gate: newGate(t), workers: map[int]*procs.Proc{}, repo: "widgets"}
	s.pool, err = pgxpool.New(ctx, db)
	require.NoError(t, err)
	t.Cleanup(s.pool.Close)
	for _, name := range []string{"a", "b"} {
		s.startWorker(t, name)
	}
	require.NoError(t, c.AddRepo(s.repo, c.RepoFiles(s.gate.agent(bin))))
	return s
}

func (s *procScene) startWorker(t *testing.T, name string) *procs.Proc {
	t.Helper()
	w, err := s.c.StartWorker(context.Background(), name)
	require.NoError(t, err)
	s.workers[w.Pid()] = w
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker %s (pid %d) log:\n%s", name, w.Pid(), tail(w.Log(), 60))
		}
	})
	return w
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// workerOfCycle is the worker process whose lease the cycle is under: the
// lease owner is "<host>/<pid>/<random>/job-<id>".
func (s *procScene) workerOfCycle(t *testing.T, c *store.Cycle) *procs.Proc {
	t.Helper()
	parts := strings.Split(c.LeaseOwner, "/")
	require.GreaterOrEqual(t, len(parts), 3, "lease owner %q", c.LeaseOwner)
	pid, err := strconv.Atoi(parts[1])
	require.NoError(t, err, "lease owner %q", c.LeaseOwner)
	w := s.workers[pid]
	require.NotNil(t, w, "lease owner %q is one of the scene's workers", c.LeaseOwner)
	return w
}

// label opens an issue as the maintainer and labels it.
func (s *procScene) label(t *testing.T, body string) int {
	t.Helper()
	ctx := context.Background()
	gh := s.c.User("maintainer")
	issue, _, err := gh.Issues.Create(ctx, procs.Owner, s.repo, &github.IssueRequest{Title: github.String("Work"), Body: &body})
	require.NoError(t, err)
	_, _, err = gh.Issues.AddLabelsToIssue(ctx, procs.Owner, s.repo, issue.GetNumber(), []string{"specloop"})
	require.NoError(t, err)
	return issue.GetNumber()
}

// cycles are the cycles of the issue's run, oldest first; nil before the
// run exists.
func (s *procScene) cycles(t *testing.T, issue int) (*store.Run, []*store.Cycle) {
	t.Helper()
	run, err := store.FindRun(context.Background(), s.pool, procs.Owner+"/"+s.repo, issue)
	if err != nil {
		return nil, nil
	}
	cycles, err := store.ListCycles(context.Background(), s.pool, run.ID)
	require.NoError(t, err)
	return run, cycles
}

// cycle is one cycle's row now.
func (s *procScene) cycle(t *testing.T, id int64) *store.Cycle {
	t.Helper()
	c, err := store.GetCycle(context.Background(), s.pool, id)
	require.NoError(t, err)
	return c
}

// running waits for the issue's last cycle to be running in its agent
// (its agent at the gate) and returns the cycle and that gate connection.
func (s *procScene) running(t *testing.T, issue int) (*store.Cycle, *gateConn) {
	t.Helper()
	gc := await(t, "an agent at the gate", s.gate.arrived)
	var c *store.Cycle
	waitFor(t, "the cycle running", func() bool {
		_, cycles := s.cycles(t, issue)
		if len(cycles) == 0 {
			return false
		}
		c = cycles[len(cycles)-1]
		return c.State == state.CycleRunning
	})
	return c, gc
}

// done waits for cycle id to be done.
func (s *procScene) done(t *testing.T, id int64) *store.Cycle {
	t.Helper()
	var c *store.Cycle
	waitFor(t, fmt.Sprintf("cycle %d done", id), func() bool {
		c = s.cycle(t, id)
		return c.State == state.CycleDone
	})
	return c
}

// pulls are the emulator's PRs of a branch.
func (s *procScene) pulls(branch string) []*github.PullRequest {
	var out []*github.PullRequest
	for _, pr := range s.c.Emulator.PullRequests(procs.Owner, s.repo) {
		if pr.GetHead().GetRef() == branch {
			out = append(out, pr)
		}
	}
	return out
}

// pushes counts the push webhooks GitHub sent for branch: one per push a
// maintainer would see in the branch's history.
func (s *procScene) pushes(t *testing.T, branch string) int {
	t.Helper()
	n := 0
	for _, d := range s.c.Emulator.Deliveries() {
		if d.Event != "push" || d.Repo != procs.Owner+"/"+s.repo || d.Redelivery {
			continue
		}
		var p struct {
			Ref string `json:"ref"`
		}
		require.NoError(t, json.Unmarshal(d.Payload, &p))
		if p.Ref == "refs/heads/"+branch {
			n++
		}
	}
	return n
}

// checkRuns are the cycle's check runs as the emulator holds them.
func (s *procScene) checkRuns(cycleID int64) []*github.CheckRun {
	var out []*github.CheckRun
	for _, cr := range s.c.Emulator.CheckRuns(procs.Owner, s.repo) {
		if cr.GetExternalID() == fmt.Sprintf("cycle:%d", cycleID) {
			out = append(out, cr)
		}
	}
	return out
}

// requireAllCompleted asserts that every check run of the cycle completed
// and returns how many summaries contain each of says.
func (s *procScene) requireAllCompleted(t *testing.T, cycleID int64, says ...string) map[string]int {
	t.Helper()
	got := map[string]int{}
	runs := s.checkRuns(cycleID)
	require.NotEmpty(t, runs)
	for _, cr := range runs {
		require.Equal(t, "completed", cr.GetStatus(), "%s (%d): every check run that started completes: %s", cr.GetName(), cr.GetID(), cr.GetOutput().GetSummary())
		for _, say := range says {
			if strings.Contains(cr.GetOutput().GetSummary(), say) {
				got[say]++
			}
		}
	}
	return got
}

// implementStarts counts the cycle's "implement started" events: one per
// attempt whose agent ran.
func (s *procScene) implementStarts(t *testing.T, runID, cycleID int64) int {
	t.Helper()
	evs, err := store.ListEvents(context.Background(), s.pool, runID, 0, 10000)
	require.NoError(t, err)
	n := 0
	for _, e := range evs {
		if e.CycleID == cycleID && e.Step == "implement" && e.Outcome == "started" {
			n++
		}
	}
	return n
}

// logHas reports whether a process logged a line with msg.
func logHas(log, msg string) bool {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == msg {
			return true
		}
	}
	return false
}

// other is the scene's worker that is not w.
func (s *procScene) other(w *procs.Proc) *procs.Proc {
	for _, p := range s.workers {
		if p != w && p.Name != w.Name {
			return p
		}
	}
	return nil
}
