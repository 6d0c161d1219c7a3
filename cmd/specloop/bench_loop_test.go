package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/store"
)

// BenchmarkReviewToCycle measures how long a maintainer's review takes to
// become a fix cycle (from the review's submission to the cycle's claim:
// the ReviewDebounce of 2 s, the job and the claim) and to be answered in
// its thread (to the cycle's end), and the size of the fix prompt. Each
// iteration is one review with one inline comment on the run's PR.
func BenchmarkReviewToCycle(b *testing.B) {
	ctx := context.Background()
	st, repo := benchStack(b)
	issue := labelB(b, st, repo, "- [ ] [r-1] Reviewed obligation")
	run, _ := waitB(b, st, repo, issue, 1)
	var toClaim, toEnd time.Duration
	var promptBytes int
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		_, _, err := st.UserClient("maintainer").PullRequests.CreateReview(ctx, st.Owner, repo, run.PR, &github.PullRequestReviewRequest{
			Event: github.String("COMMENT"),
			Comments: []*github.DraftReviewComment{{Path: github.String("IMPLEMENTED.md"), Line: github.Int(1), Side: github.String("RIGHT"),
				Body: github.String(fmt.Sprintf("Review %d: say more.", i))}},
		})
		if err != nil {
			b.Fatal(err)
		}
		_, cycles := waitB(b, st, repo, issue, i+2)
		c := cycles[i+1]
		if c.Trigger != "review" {
			b.Fatalf("cycle %d: trigger %s, want review", c.ID, c.Trigger)
		}
		toClaim += c.StartedAt.Sub(start)
		toEnd += c.FinishedAt.Sub(start)
		arts, err := store.ListArtifacts(ctx, st.Server.Pool, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		for _, a := range arts {
			if a.Name == "prompt-implementer.md" {
				promptBytes += cap(a.Content)
			}
		}
	}
	b.ReportMetric(float64(toClaim.Milliseconds())/float64(b.N), "review-to-claim-ms")
	b.ReportMetric(float64(toEnd.Milliseconds())/float64(b.N), "review-to-reply-ms")
	b.ReportMetric(float64(promptBytes)/float64(b.N), "fix-prompt-bytes")
}
