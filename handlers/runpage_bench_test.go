package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// BenchmarkRunPage renders the page of a run with 20 finished cycles, each
// with its steps, a live log of 200 chunks and five artifacts: what a
// reviewer waits for when opening a long run.
func BenchmarkRunPage(b *testing.B) {
	site := newRunSite(b, time.Second)
	ctx := testCtx(b, 10*time.Minute)
	s := newSeeder(b, ctx, site.pool, "specloop/bench")
	for i := 0; i < 20; i++ {
		c, fence := s.cycle(fmt.Sprintf("ob-%d", i))
		s.through(c, &store.StepCounts{Known: true, Passed: 40, Failed: 0})
		for j := 0; j < 200; j++ {
			s.ev(c, "log", "verify", "", fmt.Sprintf("=== RUN TestThing%d\n--- PASS: TestThing%d (0.00s)\n", j, j), nil)
		}
		for _, name := range []string{"implement.log", "verify.log", "audit.md", "prompt-implementer.md", "patch.diff"} {
			s.artifact(c, name, strings.Repeat("line of output\n", 2000))
		}
		s.finish(c, fence, state.Success, "done")
	}
	url := fmt.Sprintf("%s/runs/%d?token=%s", site.url, s.run.ID, site.links.Token(s.run.ID))
	b.ResetTimer()
	var size int
	for i := 0; i < b.N; i++ {
		resp, err := site.client.Get(url)
		require.NoError(b, err)
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode)
		size = int(n)
	}
	b.ReportMetric(float64(size)/1024, "KiB/page")
}
