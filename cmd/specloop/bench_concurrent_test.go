package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/store"
)

// BenchmarkCyclesConcurrent is throughput with 4 cycles at once: 4
// workers, 4 repos, each iteration one labelled issue in every repo at the
// same time, waiting for all 4 first cycles. The driver is
// SPECLOOP_TEST_SANDBOX's (bwrap by default; kubernetes with a cluster).
func BenchmarkCyclesConcurrent(b *testing.B) {
	st, err := stack.Start(context.Background(), stack.Options{Workers: 4, Sandbox: testSandbox()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	repos := []string{"c0", "c1", "c2", "c3"}
	for _, r := range repos {
		addRepoB(b, st, r, stack.SampleRepo(st.AgentBin()))
	}
	var wall time.Duration
	n := 0
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		issues := map[string]int{}
		for _, r := range repos {
			issues[r] = labelB(b, st, r, fmt.Sprintf("- [ ] [p-%d] Parallel obligation %d", i, i))
		}
		for _, r := range repos {
			run, cycles := waitB(b, st, r, issues[r], 1)
			if c := cycles[0]; c.Conclusion != "success" {
				evs, _ := store.ListEvents(context.Background(), st.Server.Pool, run.ID, 0, 1000)
				for _, e := range evs {
					b.Logf("%+v", e)
				}
				b.Fatalf("cycle %d concluded %s: %s", c.ID, c.Conclusion, c.Summary)
			}
			n++
		}
		wall += time.Since(start)
	}
	b.ReportMetric(float64(n)/wall.Minutes(), "cycles/min")
}
