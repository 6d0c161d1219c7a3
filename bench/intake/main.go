// Command intake benchmarks the webhook intake: it migrates the database at
// -db, serves handlers.Router on a loopback listener with a real net/http
// server, and drives signed real GitHub payloads (unique GUIDs) at POST
// /webhooks over real TCP, either as fast as -clients closed-loop clients can
// go (-rate 0) or at a fixed rate on an open-loop schedule (latency measured
// from each request's scheduled time, so a stall is not hidden by the
// clients waiting on it). It reports deliveries/s, latency percentiles and
// errors by status; -json prints one JSON line instead.
//
// With -pgbench-script FILE it writes the pgbench transaction equivalent to
// one delivery of the same payload (the delivery row and River's job row),
// truncates the tables and exits; bench/intake/run.sh uses both.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/specloop/specloop/handlers"
	"github.com/specloop/specloop/jobs"
	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/store"
)

// installationID is what the edited payloads carry; any non-zero id will do.
const installationID = 4242

type payload struct {
	Name  string // testdata path, for the report
	Event string
	Body  []byte
	Sig   string
	Jobs  int // jobs the intake queues for it
}

type options struct {
	db, secret, testdata, mix, logTo, pgbenchScript, cpuProfile string
	clients                                                     int
	duration, warmup                                            time.Duration
	rate                                                        float64
	json                                                        bool
}

func main() {
	var o options
	flag.StringVar(&o.db, "db", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL)")
	flag.IntVar(&o.clients, "clients", 16, "concurrent clients (connections)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured warm-up before the tables are truncated")
	flag.Float64Var(&o.rate, "rate", 0, "deliveries per second on an open-loop schedule; 0 = as fast as the clients go")
	flag.StringVar(&o.secret, "secret", "bench-webhook-secret", "webhook secret")
	flag.StringVar(&o.testdata, "testdata", "testdata/github-webhooks", "directory of GitHub webhook payloads (the repo's copy)")
	flag.StringVar(&o.mix, "payload", "labeled", "labeled (issues.labeled with label specloop: one issue_label job per delivery) or mix (labeled, a /loop comment and events that queue nothing)")
	flag.StringVar(&o.logTo, "log", "discard", "where the intake's per-delivery log lines go: discard (JSON-formatted, then dropped), stderr, none (handler disabled)")
	flag.BoolVar(&o.json, "json", false, "print one JSON line")
	flag.StringVar(&o.pgbenchScript, "pgbench-script", "", "write the equivalent pgbench transaction to FILE, truncate the tables and exit")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase to FILE")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/intake:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.db == "" {
		return errors.New("no database: set DATABASE_URL or -db (or use bench/intake/run.sh, which starts one)")
	}
	if o.clients < 1 {
		return errors.New("-clients must be at least 1")
	}
	payloads, err := loadPayloads(o.testdata, o.mix, o.secret)
	if err != nil {
		return err
	}
	pool, err := store.Open(ctx, o.db)
	if err != nil {
		return err
	}
	defer pool.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := store.Migrate(ctx, pool, quiet); err != nil {
		return err
	}
	if o.pgbenchScript != "" {
		if err := os.WriteFile(o.pgbenchScript, []byte(pgbenchScript(payloads[0])), 0o644); err != nil {
			return fmt.Errorf("write pgbench script: %w", err)
		}
		return truncate(ctx, pool)
	}

	var logger *slog.Logger
	switch o.logTo {
	case "discard":
		logger = slog.New(slog.NewJSONHandler(io.Discard, nil)) // formats every line, as serve does
	case "stderr":
		logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	case "none":
		logger = slog.New(slog.DiscardHandler)
	default:
		return fmt.Errorf("-log %q: want discard, stderr or none", o.logTo)
	}
	// The web half of serve: an insert-only River client, no workers.
	riverClient, err := jobs.NewClient(jobs.Config{Pool: pool, Logger: quiet})
	if err != nil {
		return err
	}
	metrics := handlers.NewMetrics(pool)
	intake := handlers.NewIntake([]string{o.secret}, pool, riverClient, handlers.RouteConfig{AppID: 1, AppSlug: "specloop"}, metrics, logger)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: handlers.Router(intake, pool, metrics), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/webhooks"

	tr := &http.Transport{
		MaxIdleConns:        o.clients,
		MaxIdleConnsPerHost: o.clients,
		MaxConnsPerHost:     o.clients,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	// Every payload must be accepted before anything is measured.
	for _, p := range payloads {
		if status, err := send(ctx, client, url, p); err != nil || status != http.StatusAccepted {
			return fmt.Errorf("check %s: status %d, err %v", p.Name, status, err)
		}
	}
	if o.warmup > 0 {
		drive(ctx, client, url, payloads, o.clients, o.warmup, o.rate)
	}
	if err := truncate(ctx, pool); err != nil {
		return err
	}
	before := pool.Stat()
	cpu0 := cpuTime()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
	}
	res := drive(ctx, client, url, payloads, o.clients, o.duration, o.rate)
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	res.CPUSeconds = (cpuTime() - cpu0).Seconds()
	after := pool.Stat()
	res.Pool = poolReport{
		MaxConns:         after.MaxConns(),
		Acquires:         after.AcquireCount() - before.AcquireCount(),
		EmptyAcquires:    after.EmptyAcquireCount() - before.EmptyAcquireCount(),
		AcquireWaitTotal: (after.AcquireDuration() - before.AcquireDuration()).Seconds(),
	}
	if res.Pool.Acquires > 0 {
		res.Pool.AvgAcquireWaitMS = res.Pool.AcquireWaitTotal * 1000 / float64(res.Pool.Acquires)
	}
	if err := pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM deliveries), (SELECT count(*) FROM river_job)").
		Scan(&res.Rows.Deliveries, &res.Rows.Jobs); err != nil {
		return fmt.Errorf("count rows: %w", err)
	}
	for _, p := range payloads {
		res.Payloads = append(res.Payloads, fmt.Sprintf("%s (%d B, %d job)", p.Name, len(p.Body), p.Jobs))
	}
	res.Clients, res.Mode, res.Log = o.clients, "max", o.logTo
	if o.rate > 0 {
		res.Mode = "rate"
		res.TargetRate = o.rate
	}
	if o.json {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	res.print(os.Stdout)
	return nil
}

func truncate(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, "TRUNCATE deliveries, river_job"); err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	// Leave no dead tuples or pending autovacuum from the previous phase.
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE deliveries, river_job"); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return nil
}

// loadPayloads reads the testdata payloads and edits them so each routes the
// way the benchmark needs (label "specloop", an installation id, a /loop
// comment).
func loadPayloads(dir, mix, secret string) ([]payload, error) {
	type spec struct {
		file, event string
		edit        func(map[string]any)
		jobs        int
	}
	withInstallation := func(m map[string]any) {
		m["installation"] = map[string]any{"id": installationID, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg=="}
	}
	labeled := spec{"issues/labeled.payload.json", "issues", func(m map[string]any) {
		m["label"].(map[string]any)["name"] = repoconfig.DefaultLabel
		withInstallation(m)
	}, 1}
	specs := []spec{labeled}
	switch mix {
	case "labeled":
	case "mix":
		specs = append(specs,
			spec{"issue_comment/created.payload.json", "issue_comment", func(m map[string]any) {
				m["comment"].(map[string]any)["body"] = "/loop next"
				withInstallation(m)
			}, 1},
			spec{"issues/opened.payload.json", "issues", withInstallation, 0},
			spec{"push/payload.json", "push", withInstallation, 0},
			spec{"check_suite/completed.payload.json", "check_suite", withInstallation, 0},
			spec{"pull_request/opened.payload.json", "pull_request", withInstallation, 0},
		)
	default:
		return nil, fmt.Errorf("-payload %q: want labeled or mix", mix)
	}
	var out []payload
	for _, s := range specs {
		raw, err := os.ReadFile(filepath.Join(dir, s.file))
		if err != nil {
			return nil, fmt.Errorf("read payload: %w", err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("parse %s: %w", s.file, err)
		}
		s.edit(m)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m); err != nil {
			return nil, fmt.Errorf("encode %s: %w", s.file, err)
		}
		body := bytes.TrimSpace(buf.Bytes())
		out = append(out, payload{Name: s.file, Event: s.event, Body: body, Sig: handlers.Sign(secret, body), Jobs: s.jobs})
	}
	return out, nil
}

func newGUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func send(ctx context.Context, c *http.Client, url string, p payload) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(p.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/bench")
	req.Header.Set("X-GitHub-Event", p.Event)
	req.Header.Set("X-GitHub-Delivery", newGUID())
	req.Header.Set("X-Hub-Signature-256", p.Sig)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

type result struct {
	Mode       string         `json:"mode"` // max | rate
	Clients    int            `json:"clients"`
	TargetRate float64        `json:"target_rate,omitempty"`
	Log        string         `json:"log"`
	Payloads   []string       `json:"payloads"`
	Seconds    float64        `json:"seconds"`
	Sent       int            `json:"sent"`
	Accepted   int            `json:"accepted"`
	PerSecond  float64        `json:"deliveries_per_s"` // 202s per second
	P50MS      float64        `json:"p50_ms"`
	P90MS      float64        `json:"p90_ms"`
	P99MS      float64        `json:"p99_ms"`
	MaxMS      float64        `json:"max_ms"`
	Errors     map[string]int `json:"errors"` // non-202 replies by status; "transport" for failed requests
	CPUSeconds float64        `json:"cpu_s"`  // user+sys of this process (server and clients) during the phase
	Pool       poolReport     `json:"pool"`
	latencies  []time.Duration
	Rows       struct {
		Deliveries int64 `json:"deliveries"`
		Jobs       int64 `json:"river_job"`
	} `json:"rows"`
}

type poolReport struct {
	MaxConns         int32   `json:"max_conns"`
	Acquires         int64   `json:"acquires"`
	EmptyAcquires    int64   `json:"empty_acquires"` // acquires that had to wait for a connection
	AcquireWaitTotal float64 `json:"acquire_wait_total_s"`
	AvgAcquireWaitMS float64 `json:"avg_acquire_wait_ms"`
}

type workerStats struct {
	lat    []time.Duration
	errors map[string]int
	sent   int
}

func (w *workerStats) record(status int, err error, d time.Duration) {
	w.sent++
	switch {
	case err != nil:
		w.errors["transport"]++
	case status != http.StatusAccepted:
		w.errors[strconv.Itoa(status)]++
	default:
		w.lat = append(w.lat, d)
	}
}

// drive sends deliveries for d. With rate 0 each of n clients sends its next
// delivery when the previous one is answered (closed loop). With a rate, a
// schedule fixes when delivery i is due (start + i/rate) regardless of how
// earlier ones fare; n clients take them in turn and latency counts from the
// due time, so time spent waiting for a free client is included.
func drive(ctx context.Context, c *http.Client, url string, payloads []payload, n int, d time.Duration, rate float64) *result {
	stats := make([]*workerStats, n)
	for i := range stats {
		stats[i] = &workerStats{errors: map[string]int{}}
	}
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	if rate <= 0 {
		for i := range n {
			wg.Go(func() {
				w := stats[i]
				for k := i; time.Now().Before(deadline); k++ {
					t0 := time.Now()
					status, err := send(ctx, c, url, payloads[k%len(payloads)])
					w.record(status, err, time.Since(t0))
				}
			})
		}
		wg.Wait()
	} else {
		total := int(rate * d.Seconds())
		due := make(chan int, total)
		for i := range n {
			wg.Go(func() {
				w := stats[i]
				for k := range due {
					at := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
					if wait := time.Until(at); wait > 0 {
						time.Sleep(wait)
					}
					status, err := send(ctx, c, url, payloads[k%len(payloads)])
					w.record(status, err, time.Since(at))
				}
			})
		}
		// Hand out each delivery at its due time; a client that is free
		// early sleeps until then, one that is late starts at once.
		for k := range total {
			at := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
			if wait := time.Until(at) - time.Millisecond; wait > 0 {
				time.Sleep(wait)
			}
			due <- k
		}
		close(due)
		wg.Wait()
	}
	elapsed := time.Since(start)
	if rate > 0 {
		// The schedule spans d; a backlog answered after it still counts
		// against latency, not against the rate.
		elapsed = d
	}
	r := &result{Seconds: elapsed.Seconds(), Errors: map[string]int{}}
	for _, w := range stats {
		r.Sent += w.sent
		r.latencies = append(r.latencies, w.lat...)
		for k, v := range w.errors {
			r.Errors[k] += v
		}
	}
	r.Accepted = len(r.latencies)
	r.PerSecond = float64(r.Accepted) / elapsed.Seconds()
	slices.Sort(r.latencies)
	r.P50MS = ms(percentile(r.latencies, 0.50))
	r.P90MS = ms(percentile(r.latencies, 0.90))
	r.P99MS = ms(percentile(r.latencies, 0.99))
	if len(r.latencies) > 0 {
		r.MaxMS = ms(r.latencies[len(r.latencies)-1])
	}
	return r
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r *result) print(w io.Writer) {
	mode := fmt.Sprintf("as fast as %d clients go", r.Clients)
	if r.Mode == "rate" {
		mode = fmt.Sprintf("open loop at %.0f/s, %d clients", r.TargetRate, r.Clients)
	}
	fmt.Fprintf(w, "intake: %s for %.1fs; payloads: %s\n", mode, r.Seconds, strings.Join(r.Payloads, ", "))
	fmt.Fprintf(w, "  deliveries/s  %.1f  (%d accepted of %d sent)\n", r.PerSecond, r.Accepted, r.Sent)
	fmt.Fprintf(w, "  latency ms    p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", r.P50MS, r.P90MS, r.P99MS, r.MaxMS)
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "  errors        none")
	} else {
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s: %d", k, r.Errors[k]))
		}
		fmt.Fprintf(w, "  errors        %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "  rows          deliveries %d, river_job %d\n", r.Rows.Deliveries, r.Rows.Jobs)
	fmt.Fprintf(w, "  pool          max_conns %d, %d acquires, %d waited, avg wait %.2f ms\n",
		r.Pool.MaxConns, r.Pool.Acquires, r.Pool.EmptyAcquires, r.Pool.AvgAcquireWaitMS)
	fmt.Fprintf(w, "  cpu           %.1fs user+sys in this process (%.2f cores)\n", r.CPUSeconds, r.CPUSeconds/r.Seconds)
}

// pgbenchScript is one delivery as the intake writes it, in one transaction:
// the deliveries row (same columns, same body) and the river_job row River's
// JobInsertFastMany writes for an insert-only client (kind, args, defaults:
// max_attempts 25, priority 1, queue default, state available, no tags, no
// unique key). The GUID is a fresh UUID per transaction.
func pgbenchScript(p payload) string {
	args, _ := json.Marshal(jobs.IssueLabelArgs{
		Repo: "Codertocat/Hello-World", InstallationID: installationID, Issue: 1, Label: repoconfig.DefaultLabel,
		Labeled: true, Sender: "Codertocat", Delivery: "00000000-0000-4000-8000-000000000000",
	})
	var b strings.Builder
	fmt.Fprintf(&b, "-- %s, %d bytes; generated by bench/intake\n", p.Name, len(p.Body))
	b.WriteString("BEGIN;\n")
	fmt.Fprintf(&b, "INSERT INTO deliveries (guid, event, action, repo_full_name, installation_id, jobs, body) "+
		"VALUES (gen_random_uuid()::text, 'issues', 'labeled', 'Codertocat/Hello-World', %d, 1, '\\x%s'::bytea) "+
		"ON CONFLICT (guid) DO NOTHING;\n", installationID, hex.EncodeToString(p.Body))
	fmt.Fprintf(&b, "INSERT INTO river_job (args, created_at, kind, max_attempts, metadata, priority, queue, scheduled_at, state, tags, unique_key, unique_states) "+
		"VALUES ('%s'::jsonb, now(), 'issue_label', 25, '{}'::jsonb, 1, 'default', now(), 'available'::river_job_state, '{}'::varchar(255)[], NULL, NULL) "+
		"RETURNING *;\n", pgbenchLiteral(args))
	b.WriteString("COMMIT;\n")
	return b.String()
}

// pgbenchLiteral quotes JSON for a pgbench script: pgbench reads ":name" as
// a variable, so a space follows each key's colon (the same jsonb value).
func pgbenchLiteral(j []byte) string {
	return strings.ReplaceAll(strings.ReplaceAll(string(j), `":`, `": `), "'", "''")
}
