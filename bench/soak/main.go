// Command soak runs specloop as an operator does, under failure, for many
// cycles: `specloop web` and two `specloop worker` processes (the built
// binary) on one PostgreSQL, the GitHub emulator in this process, and a
// fast scripted agent. It labels one issue per cycle, a few at a time, and
// for a third of the cycles sends SIGKILL or SIGTERM (at random) to the
// worker running it at a random point of the cycle, then restarts that
// worker on the same MIRROR_DIR; a tenth of the cycles are stopped by
// unlabelling their issue while the agent runs.
//
// It reports what a maintainer and an operator would check: cycles lost
// (not concluded), cycles whose agent ran twice at once, check runs left
// open, duplicate PRs, takeover latency (signal to the cycle claimed again
// by a live worker) and stop latency (the unlabelling delivery's commit to
// the agent's exit in its sandbox), each p50 and max; and each process's
// RSS, open files, goroutines, and the mounts and disk of its MIRROR_DIR,
// after warm-up and at the end.
//
// bench/soak/run.sh builds and runs it (inside scripts/pgtemp without
// DATABASE_URL). Exit status 1 means a correctness target was missed.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-github/v62/github"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/internal/procs"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

type options struct {
	db          string
	cycles      int
	inFlight    int
	perRepo     int
	agent       time.Duration
	lease       string
	grace       string
	seed        uint64
	timeout     time.Duration
	cycleWait   time.Duration
	faultEvery  int
	stopEvery   int
	jsonOut     bool
	workersEach int
}

func main() {
	var o options
	flag.StringVar(&o.db, "db", os.Getenv("DATABASE_URL"), "PostgreSQL URL (a database the soak may fill)")
	flag.IntVar(&o.cycles, "cycles", envInt("CYCLES", 300), "cycles to run (env CYCLES)")
	flag.IntVar(&o.inFlight, "in-flight", 4, "cycles running at once (labelled issues not yet concluded)")
	flag.IntVar(&o.perRepo, "per-repo", 30, "cycles per repo; each repo is its own installation, with its own API budget")
	flag.DurationVar(&o.agent, "agent", 1500*time.Millisecond, "how long the scripted agent works")
	flag.StringVar(&o.lease, "lease", "10s", "LEASE_TTL of the workers")
	flag.StringVar(&o.grace, "grace", "1s", "SHUTDOWN_GRACE of the workers")
	flag.IntVar(&o.workersEach, "workers", 2, "WORKERS of each worker process")
	flag.Uint64Var(&o.seed, "seed", uint64(time.Now().UnixNano()), "random seed (printed, to replay a run)")
	flag.DurationVar(&o.timeout, "timeout", 40*time.Minute, "give up on the whole soak after this long")
	flag.DurationVar(&o.cycleWait, "cycle-wait", 3*time.Minute, "a cycle not concluded this long after its label is lost")
	flag.IntVar(&o.faultEvery, "fault-every", 3, "send a signal during every n-th cycle")
	flag.IntVar(&o.stopEvery, "stop-every", 10, "stop every n-th cycle (that is not faulted) by unlabelling it")
	flag.BoolVar(&o.jsonOut, "json", false, "print the report as one JSON line")
	flag.Parse()
	if o.db == "" {
		fmt.Fprintln(os.Stderr, "soak: set DATABASE_URL or -db (bench/soak/run.sh starts a throw-away cluster)")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	rep, err := soak(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if o.jsonOut {
		b, _ := json.Marshal(rep)
		fmt.Println(string(b))
	} else {
		rep.print(os.Stdout)
	}
	if !rep.ok() {
		os.Exit(1)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// job is one cycle of the soak: one labelled issue with one obligation.
type job struct {
	n     int // 0-based
	id    string
	repo  string
	issue int
	fault syscall.Signal // 0: none
	stop  bool

	labelled time.Time
	cycle    *store.Cycle // its row once concluded
}

// agentRun is one run of the agent of an obligation, as the gate saw it.
type agentRun struct {
	start, end time.Time
	finished   bool // it said "end"; else its process was killed
}

// gate is where every agent reports: "start <id>" when it begins, then it
// waits for the time to work (a held agent never gets one), then "end
// <id>". A connection that closes without "end" is an agent killed in its
// sandbox.
type gate struct {
	addr  string
	agent time.Duration
	mu    sync.Mutex
	hold  map[string]bool // obligation → hold its agent until killed
	runs  map[string][]*agentRun
	seen  chan string // obligation ids as their agents start
}

func newGate(agent time.Duration) (*gate, net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	g := &gate{addr: ln.Addr().String(), agent: agent, hold: map[string]bool{}, runs: map[string][]*agentRun{}, seen: make(chan string, 1024)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.serve(c)
		}
	}()
	return g, ln, nil
}

func (g *gate) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	id, ok := strings.CutPrefix(strings.TrimSpace(line), "start ")
	if err != nil || !ok {
		return
	}
	run := &agentRun{start: time.Now()}
	g.mu.Lock()
	g.runs[id] = append(g.runs[id], run)
	hold := g.hold[id]
	g.mu.Unlock()
	select {
	case g.seen <- id:
	default:
	}
	if !hold {
		fmt.Fprintf(c, "%.3f\n", g.agent.Seconds())
	}
	line, _ = r.ReadString('\n')
	g.mu.Lock()
	run.end, run.finished = time.Now(), strings.TrimSpace(line) == "end "+id
	g.mu.Unlock()
}

func (g *gate) runsOf(id string) []agentRun {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]agentRun, 0, len(g.runs[id]))
	for _, r := range g.runs[id] {
		out = append(out, *r)
	}
	return out
}

// agentScript is the agent, committed in each repo: it reports to the gate,
// works as long as the gate says, then runs the scripted agent.
func agentScript(bin, gateAddr string) string {
	host, port, _ := net.SplitHostPort(gateAddr)
	return fmt.Sprintf(`#!/bin/bash
prompt=$(cat)
id=$(printf '%%s\n' "$prompt" | sed -n 's/^Obligation-ID: //p' | head -n1)
exec 3<>/dev/tcp/%s/%s || exit 3
echo "start $id" >&3
read -r work <&3 || exit 4
sleep "$work"
printf '%%s\n' "$prompt" | %s agent-script || exit $?
echo "end $id" >&3
`, host, port, bin)
}

type soaker struct {
	o       options
	rng     *rand.Rand
	c       *procs.Cluster
	pool    *pgxpool.Pool
	gate    *gate
	workers map[string]*procs.Proc // by name: the current incarnation
	starts  map[string]int         // incarnations by name
	wmu     sync.Mutex
	log     *slog.Logger
}

func soak(ctx context.Context, o options) (*report, error) {
	began := time.Now()
	dir, err := os.MkdirTemp("", "specloop-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// The sandbox runs as another user: it must reach the binary and the mirrors.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	s := &soaker{o: o, rng: rand.New(rand.NewPCG(o.seed, 1)), workers: map[string]*procs.Proc{}, starts: map[string]int{},
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	s.log.Info("soak: building specloop", "cycles", o.cycles, "seed", o.seed)
	bin, err := procs.Build(ctx, dir)
	if err != nil {
		return nil, err
	}
	g, ln, err := newGate(o.agent)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	s.gate = g
	if s.pool, err = pgxpool.New(ctx, o.db); err != nil {
		return nil, err
	}
	defer s.pool.Close()
	s.c, err = procs.Start(ctx, procs.Options{Bin: bin, DatabaseURL: o.db, Dir: dir, Env: []string{
		"WORKERS=" + strconv.Itoa(o.workersEach), "SANDBOX=" + sandboxDriver(), "LEASE_TTL=" + o.lease, "SHUTDOWN_GRACE=" + o.grace,
	},
		// Hundreds of cycles in half an hour are more content than GitHub
		// lets one user or installation create in an hour (500): the
		// hourly limit would stop the maintainer's issues, not test the
		// workers. The per-minute limit (80) stays.
		SecondaryLimits: &emulator.SecondaryLimits{PerMinute: 80},
	})
	if err != nil {
		return nil, err
	}
	defer s.c.Close()
	for _, name := range []string{"a", "b"} {
		if _, err := s.startWorker(ctx, name); err != nil {
			return nil, err
		}
	}

	jobs := make([]*job, o.cycles)
	for i := range jobs {
		j := &job{n: i, id: fmt.Sprintf("soak-%d", i), repo: fmt.Sprintf("soak-%d", i/o.perRepo)}
		switch {
		case o.faultEvery > 0 && i%o.faultEvery == o.faultEvery-1:
			j.fault = []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM}[s.rng.IntN(2)]
		case o.stopEvery > 0 && i%o.stopEvery == o.stopEvery-1:
			j.stop = true
			g.mu.Lock()
			g.hold[j.id] = true
			g.mu.Unlock()
		}
		jobs[i] = j
	}
	repoFiles := s.c.RepoFiles("bash tools/agent.sh")
	repoFiles["tools/agent.sh"] = agentScript(bin, g.addr)
	for r := 0; r*o.perRepo < o.cycles; r++ {
		if err := s.c.AddRepo(fmt.Sprintf("soak-%d", r), repoFiles); err != nil {
			return nil, err
		}
	}

	rep := &report{Cycles: o.cycles, Seed: o.seed, Agent: o.agent.String(), Lease: o.lease, Grace: o.grace}
	warm := min(o.cycles, 2*o.inFlight)
	for start := 0; start < len(jobs); start += o.inFlight {
		if ctx.Err() != nil {
			break
		}
		batch := jobs[start:min(start+o.inFlight, len(jobs))]
		if err := s.runBatch(ctx, batch, rep); err != nil {
			return nil, err
		}
		if start+len(batch) >= warm && rep.Warm == nil {
			rep.Warm = s.stats()
		}
		if (start/o.inFlight)%10 == 0 {
			s.log.Info("soak: progress", "done", start+len(batch), "of", o.cycles, "elapsed", time.Since(began).Round(time.Second))
		}
	}
	// Let the last check-run completions and prunes land before counting.
	time.Sleep(2 * time.Second)
	rep.End = s.stats()
	s.tally(ctx, jobs, rep)
	rep.Took = time.Since(began).Round(time.Second).String()
	for _, n := range s.starts {
		rep.Restarts += n - 1
	}
	return rep, nil
}

func sandboxDriver() string {
	if v := os.Getenv("SANDBOX"); v != "" {
		return v
	}
	return "bwrap"
}

func (s *soaker) startWorker(ctx context.Context, name string) (*procs.Proc, error) {
	w, err := s.c.StartWorker(ctx, name)
	if err != nil {
		return nil, err
	}
	s.wmu.Lock()
	s.workers[name] = w
	s.starts[name]++
	s.wmu.Unlock()
	return w, nil
}

// runBatch labels the batch's issues, brings the faults and stops on
// them one after another, and waits until each has concluded (or is lost).
func (s *soaker) runBatch(ctx context.Context, batch []*job, rep *report) error {
	gh := s.c.User("maintainer")
	for _, j := range batch {
		body := fmt.Sprintf("- [ ] [%s] Soak cycle %d", j.id, j.n)
		issue, _, err := gh.Issues.Create(ctx, procs.Owner, j.repo, &github.IssueRequest{Title: github.String(j.id), Body: &body})
		if err != nil {
			return fmt.Errorf("open the issue of %s: %w", j.id, err)
		}
		j.issue = issue.GetNumber()
		if _, _, err := gh.Issues.AddLabelsToIssue(ctx, procs.Owner, j.repo, j.issue, []string{"specloop"}); err != nil {
			return fmt.Errorf("label the issue of %s: %w", j.id, err)
		}
		j.labelled = time.Now()
	}
	for _, j := range batch {
		switch {
		case j.fault != 0:
			if err := s.fault(ctx, j, rep); err != nil {
				return err
			}
		case j.stop:
			if err := s.stopCycle(ctx, j, rep); err != nil {
				return err
			}
		}
	}
	for _, j := range batch {
		j.cycle = s.awaitDone(ctx, j)
	}
	return nil
}

// current is the job's cycle now, nil before it exists.
func (s *soaker) current(ctx context.Context, j *job) *store.Cycle {
	run, err := store.FindRun(ctx, s.pool, procs.Owner+"/"+j.repo, j.issue)
	if err != nil {
		return nil
	}
	cycles, err := store.ListCycles(ctx, s.pool, run.ID)
	if err != nil || len(cycles) == 0 {
		return nil
	}
	return cycles[len(cycles)-1]
}

func (s *soaker) awaitDone(ctx context.Context, j *job) *store.Cycle {
	deadline := j.labelled.Add(s.o.cycleWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if c := s.current(ctx, j); c != nil && c.State == state.CycleDone {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// holder is the worker process whose lease the cycle is under (lease
// owners are "<host>/<pid>/<random>/job-<id>").
func (s *soaker) holder(c *store.Cycle) (string, *procs.Proc) {
	parts := strings.Split(c.LeaseOwner, "/")
	if len(parts) < 3 {
		return "", nil
	}
	pid, _ := strconv.Atoi(parts[1])
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for name, w := range s.workers {
		if w.Pid() == pid {
			return name, w
		}
	}
	return "", nil
}

// fault waits for the job's cycle to run, waits a random part of a cycle,
// signals the worker running it, measures until the cycle is claimed
// again by a live worker, and restarts the signalled worker.
func (s *soaker) fault(ctx context.Context, j *job, rep *report) error {
	var c *store.Cycle
	for deadline := time.Now().Add(s.o.cycleWait); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			rep.Faults.Missed++
			return nil
		}
		if c = s.current(ctx, j); c != nil && c.State != state.CycleQueued {
			break
		}
	}
	// A random point of a cycle: prepare, the agent, verify, audit, publish.
	time.Sleep(time.Duration(s.rng.Int64N(int64(s.o.agent + 500*time.Millisecond))))
	c = s.current(ctx, j)
	if c == nil || c.State != state.CycleRunning {
		rep.Faults.Missed++ // it ended first
		return nil
	}
	name, w := s.holder(c)
	if w == nil {
		rep.Faults.Missed++
		return nil
	}
	if err := w.Signal(j.fault); err != nil {
		return fmt.Errorf("signal worker %s: %w", name, err)
	}
	sent := time.Now()
	if j.fault == syscall.SIGKILL {
		rep.Faults.Kills++
	} else {
		rep.Faults.Terms++
	}
	// The cycle claimed again by a live worker, or finished by the stopping
	// one within its grace.
	var took time.Duration
	for deadline := sent.Add(s.o.cycleWait); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(20 * time.Millisecond) {
		now, err := store.GetCycle(ctx, s.pool, c.ID)
		if err != nil {
			break
		}
		if now.State == state.CycleDone {
			if j.fault == syscall.SIGTERM {
				rep.Faults.FinishedInGrace++
			} else {
				rep.Faults.Missed++ // it finished before the kill landed
			}
			break
		}
		if now.Attempts > c.Attempts && now.State == state.CycleRunning {
			took = time.Since(sent)
			break
		}
	}
	if took > 0 {
		if j.fault == syscall.SIGKILL {
			rep.killTakeover = append(rep.killTakeover, took)
		} else {
			rep.termTakeover = append(rep.termTakeover, took)
		}
	}
	if err := w.Wait(time.Minute); err != nil && j.fault == syscall.SIGTERM {
		var ee interface{ ExitCode() int }
		if !errors.As(err, &ee) {
			return fmt.Errorf("worker %s after SIGTERM: %w", name, err)
		}
		rep.Faults.TermNonZeroExit++
	}
	_, err := s.startWorker(ctx, name)
	return err
}

// stopCycle waits until the job's agent runs (held: it never finishes by
// itself), unlabels the issue, and measures from that delivery's commit to
// the agent's exit.
func (s *soaker) stopCycle(ctx context.Context, j *job, rep *report) error {
	// Its agent running now (an earlier run may have died with a faulted
	// worker of the same batch).
	live := func() bool { runs := s.gate.runsOf(j.id); return len(runs) > 0 && runs[len(runs)-1].end.IsZero() }
	for deadline := time.Now().Add(s.o.cycleWait); !live(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			rep.Stops.Missed++
			return nil
		}
	}
	if _, err := s.c.User("maintainer").Issues.RemoveLabelForIssue(ctx, procs.Owner, j.repo, j.issue, "specloop"); err != nil {
		return fmt.Errorf("unlabel %s: %w", j.id, err)
	}
	rep.Stops.Sent++
	filter, _ := json.Marshal(map[string]any{"repo": procs.Owner + "/" + j.repo, "issue": j.issue, "labeled": false})
	var committed time.Time
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		err := s.pool.QueryRow(ctx, `SELECT d.received_at FROM river_job j JOIN deliveries d ON d.guid = j.args->>'delivery'
			WHERE j.kind = 'issue_label' AND j.args @> $1::jsonb ORDER BY j.id DESC LIMIT 1`, string(filter)).Scan(&committed)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			rep.Stops.Missed++
			return nil
		}
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		runs := s.gate.runsOf(j.id)
		if last := runs[len(runs)-1]; !last.end.IsZero() {
			rep.stopLatency = append(rep.stopLatency, last.end.Sub(committed))
			return nil
		}
	}
	rep.Stops.Missed++
	return nil
}

// stats reads every process's figures now.
func (s *soaker) stats() map[string]procs.Stats {
	out := map[string]procs.Stats{}
	if st, err := s.c.Web.Stats(); err == nil {
		out["web"] = st
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for name, w := range s.workers {
		st, err := w.Stats()
		if err != nil {
			s.log.Warn("soak: stats", "worker", name, "err", err)
			continue
		}
		out["worker-"+name] = st
	}
	return out
}

// tally reads back what the maintainer and the operator see.
func (s *soaker) tally(ctx context.Context, jobs []*job, rep *report) {
	rep.Conclusions = map[string]int{}
	prsByRepo := map[string][]*github.PullRequest{}
	for _, j := range jobs {
		if j.cycle == nil {
			rep.Lost++
			rep.LostIDs = append(rep.LostIDs, j.id)
			continue
		}
		rep.Conclusions[string(j.cycle.Conclusion)]++
		if j.stop && j.cycle.Conclusion != state.Cancelled || !j.stop && j.cycle.Conclusion != state.Success {
			rep.Unexpected = append(rep.Unexpected, fmt.Sprintf("%s (fault %v, %d attempts): %s (%s)", j.id, j.fault, j.cycle.Attempts, j.cycle.Conclusion, oneLine(j.cycle.Summary)))
		}
		rep.Attempts += j.cycle.Attempts
		// Ran twice at once: one agent run of the obligation began before
		// an earlier one had ended.
		runs := s.gate.runsOf(j.id)
		sort.Slice(runs, func(a, b int) bool { return runs[a].start.Before(runs[b].start) })
		for k := 1; k < len(runs); k++ {
			if runs[k-1].end.IsZero() || runs[k].start.Before(runs[k-1].end) {
				rep.Overlaps++
				var b strings.Builder
				fmt.Fprintf(&b, "%s (fault %v, %d attempts):", j.id, j.fault, j.cycle.Attempts)
				for _, r := range runs {
					fmt.Fprintf(&b, " [%s–%s finished=%v]", r.start.Sub(j.labelled).Round(time.Millisecond), r.end.Sub(j.labelled).Round(time.Millisecond), r.finished)
				}
				rep.OverlapIDs = append(rep.OverlapIDs, b.String())
				break
			}
		}
		if _, ok := prsByRepo[j.repo]; !ok {
			prsByRepo[j.repo] = s.c.Emulator.PullRequests(procs.Owner, j.repo)
		}
		branch := fmt.Sprintf("specloop/issue-%d", j.issue)
		prs := 0
		for _, pr := range prsByRepo[j.repo] {
			if pr.GetHead().GetRef() == branch {
				prs++
			}
		}
		if prs > 1 {
			rep.DuplicatePRs++
		}
	}
	repos := map[string]bool{}
	for _, j := range jobs {
		repos[j.repo] = true
	}
	for r := range repos {
		for _, cr := range s.c.Emulator.CheckRuns(procs.Owner, r) {
			rep.CheckRuns++
			if cr.GetStatus() != "completed" {
				rep.OpenCheckRuns++
			}
		}
		pushes := map[string]int{}
		for _, d := range s.c.Emulator.Deliveries() {
			if d.Event != "push" || d.Repo != procs.Owner+"/"+r || d.Redelivery {
				continue
			}
			var p struct {
				Ref string `json:"ref"`
			}
			if json.Unmarshal(d.Payload, &p) == nil && strings.HasPrefix(p.Ref, "refs/heads/specloop/") {
				pushes[p.Ref]++
			}
		}
		for _, n := range pushes {
			if n > 1 {
				rep.BranchesPushedTwice++
			}
		}
	}
	// Every job has returned or been rescued a few reaps after the last
	// fault; one still running after that is left for River's hour-long
	// rescue.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var running int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE state = 'running'`).Scan(&running); err != nil {
			break
		}
		rep.JobsLeftRunning = running
		if running == 0 || time.Now().After(deadline) {
			break
		}
	}
	rep.Takeover.Kill = summarize(rep.killTakeover)
	rep.Takeover.Term = summarize(rep.termTakeover)
	rep.Stop = summarize(rep.stopLatency)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// latency is p50 and max of some durations, in milliseconds.
type latency struct {
	N     int     `json:"n"`
	P50ms float64 `json:"p50_ms"`
	MaxMs float64 `json:"max_ms"`
}

func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return latency{N: len(ds), P50ms: ms(ds[len(ds)/2]), MaxMs: ms(ds[len(ds)-1])}
}

type report struct {
	Cycles, Attempts    int
	Seed                uint64
	Agent, Lease, Grace string
	Took                string
	Restarts            int
	Lost                int
	LostIDs             []string `json:",omitempty"`
	Overlaps            int
	OverlapIDs          []string `json:",omitempty"`
	CheckRuns           int
	OpenCheckRuns       int
	DuplicatePRs        int
	BranchesPushedTwice int
	JobsLeftRunning     int
	Conclusions         map[string]int
	Unexpected          []string `json:",omitempty"`
	Faults              struct{ Kills, Terms, FinishedInGrace, Missed, TermNonZeroExit int }
	Stops               struct{ Sent, Missed int }
	Takeover            struct{ Kill, Term latency }
	Stop                latency
	Warm, End           map[string]procs.Stats

	killTakeover, termTakeover, stopLatency []time.Duration
}

// ok is whether every correctness target was met (latencies are figures).
func (r *report) ok() bool {
	return r.Lost == 0 && r.Overlaps == 0 && r.OpenCheckRuns == 0 && r.DuplicatePRs == 0 && len(r.Unexpected) == 0 && r.JobsLeftRunning == 0
}

func (r *report) print(w io.Writer) {
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	fmt.Fprintf(w, "soak: %d cycles in %s (seed %d; agent %s, LEASE_TTL %s, SHUTDOWN_GRACE %s), %d attempts, %d worker restarts\n",
		r.Cycles, r.Took, r.Seed, r.Agent, r.Lease, r.Grace, r.Attempts, r.Restarts)
	fmt.Fprintf(w, "faults: %d SIGKILL, %d SIGTERM (%d finished within the grace, %d exited non-zero), %d came too late to hit a running cycle; %d stops (%d missed)\n",
		r.Faults.Kills, r.Faults.Terms, r.Faults.FinishedInGrace, r.Faults.TermNonZeroExit, r.Faults.Missed, r.Stops.Sent, r.Stops.Missed)
	fmt.Fprintf(w, "conclusions: %v\n\n", r.Conclusions)
	fmt.Fprintf(w, "%-36s %10s  %-8s %s\n", "measure", "value", "target", "verdict")
	row := func(name string, v int, target string, ok bool) {
		fmt.Fprintf(w, "%-36s %10d  %-8s %s\n", name, v, target, verdict(ok))
	}
	row("cycles lost", r.Lost, "0", r.Lost == 0)
	row("cycles run twice at once", r.Overlaps, "0", r.Overlaps == 0)
	row("check runs left open (of "+strconv.Itoa(r.CheckRuns)+")", r.OpenCheckRuns, "0", r.OpenCheckRuns == 0)
	row("duplicate PRs", r.DuplicatePRs, "0", r.DuplicatePRs == 0)
	row("unexpected conclusions", len(r.Unexpected), "0", len(r.Unexpected) == 0)
	fmt.Fprintf(w, "%-36s %10d  %-8s %s\n", "branches pushed twice", r.BranchesPushedTwice, "", "(a kill after the push re-runs the cycle)")
	row("River jobs left running", r.JobsLeftRunning, "0", r.JobsLeftRunning == 0)
	lat := func(name string, l latency, target string) {
		fmt.Fprintf(w, "%-36s p50 %8.0f ms  max %8.0f ms  (n=%d)  target %s\n", name, l.P50ms, l.MaxMs, l.N, target)
	}
	lat("takeover after SIGKILL", r.Takeover.Kill, "< 5 s")
	lat("takeover after SIGTERM", r.Takeover.Term, "grace + at once")
	lat("stop (commit → sandbox exit)", r.Stop, "< 1 s")
	for _, s := range r.Unexpected {
		fmt.Fprintln(w, "  unexpected:", s)
	}
	for _, id := range r.LostIDs {
		fmt.Fprintln(w, "  lost:", id)
	}
	for _, id := range r.OverlapIDs {
		fmt.Fprintln(w, "  ran twice at once:", id)
	}
	fmt.Fprintf(w, "\n%-10s %-5s %10s %6s %10s %7s %12s\n", "process", "when", "RSS MiB", "fds", "goroutines", "mounts", "disk MiB")
	names := []string{}
	for n := range r.End {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, when := range []string{"warm", "end"} {
			st, ok := r.Warm[n]
			if when == "end" {
				st, ok = r.End[n]
			}
			if !ok {
				continue
			}
			fmt.Fprintf(w, "%-10s %-5s %10.1f %6d %10d %7d %12.1f\n", n, when, float64(st.RSSBytes)/(1<<20), st.OpenFDs, st.Goroutines, st.Mounts, float64(st.DiskBytes)/(1<<20))
		}
	}
	fmt.Fprintln(w, "(a restarted worker's figures are its latest process's; mounts and disk are its MIRROR_DIR's, which outlive restarts)")
}
