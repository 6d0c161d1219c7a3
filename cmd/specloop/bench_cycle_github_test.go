package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/store"
)

// BenchmarkGitHubRequestsPerCycle counts the GitHub requests specloop
// sends for one cycle, by kind: reads (GET), writes (PATCH, PUT, DELETE,
// and POSTs that create nothing) and content-creating (POSTs that create
// issues, comments, PRs, check runs; GraphQL mutations), and how many
// reads repeated one already made in the cycle. "testdrive" is a
// labelled issue's first cycle; "loop-next" is a warm `/loop next` on its
// PR. Target for a warm `/loop next`: at most 15, no repeated reads of
// unchanged data. Counted by the emulator, from the trigger until the
// cycle is done and its webhooks are delivered.
func BenchmarkGitHubRequestsPerCycle(b *testing.B) {
	ctx := context.Background()
	st, err := stack.Start(ctx, stack.Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	var tasks []string
	for i := range 40 {
		tasks = append(tasks, fmt.Sprintf("- [ ] [b-%d] Step %d", i, i))
	}
	gh := st.UserClient("maintainer")
	issue, _, err := gh.Issues.Create(ctx, st.Owner, st.Repo, &github.IssueRequest{Title: github.String("bench"), Body: github.String(strings.Join(tasks, "\n"))})
	if err != nil {
		b.Fatal(err)
	}
	n := issue.GetNumber()
	done := 0
	measure := func(b *testing.B, trigger func()) map[string]int {
		settle(b, st)
		// The user's own request is not specloop's: count from after it
		// (specloop answers its webhook, which comes later).
		trigger()
		before := st.Emulator.Served()
		done++
		if _, _, err := st.WaitCycles(ctx, st.Repo, n, done, 2*time.Minute); err != nil {
			b.Fatal(err)
		}
		settle(b, st)
		return diff(before, st.Emulator.Served())
	}
	report := func(b *testing.B, runs []map[string]int) {
		var reads, writes, content, repeated int
		by := map[string]int{}
		for _, r := range runs {
			for k, c := range r {
				by[k] += c
				method, path, _ := strings.Cut(k, " ")
				switch {
				case method == "GET":
					reads += c
					repeated += c - 1
				case method == "POST" && (path == "/graphql" || (strings.HasPrefix(path, "/repos/") && !strings.HasSuffix(path, "/rerequest"))):
					content += c
				default:
					writes += c
				}
			}
		}
		per := float64(len(runs))
		b.ReportMetric(float64(reads+writes+content)/per, "requests/cycle")
		b.ReportMetric(float64(reads)/per, "reads/cycle")
		b.ReportMetric(float64(writes)/per, "writes/cycle")
		b.ReportMetric(float64(content)/per, "content/cycle")
		b.ReportMetric(float64(repeated)/per, "repeated-reads/cycle")
		logRoutes(b, by)
	}
	// The first cycle runs once per issue: measured once, reported as
	// the testdrive sub-benchmark whatever b.N.
	first := measure(b, func() {
		if _, _, err := gh.Issues.AddLabelsToIssue(ctx, st.Owner, st.Repo, n, []string{"specloop"}); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("testdrive", func(b *testing.B) { report(b, []map[string]int{first}) })
	run, err := store.FindRun(ctx, st.Server.Pool, st.Owner+"/"+st.Repo, n)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("loop-next", func(b *testing.B) {
		var runs []map[string]int
		for range b.N {
			runs = append(runs, measure(b, func() {
				if _, _, err := gh.Issues.CreateComment(ctx, st.Owner, st.Repo, run.PR, &github.IssueComment{Body: github.String("/loop next")}); err != nil {
					b.Fatal(err)
				}
			}))
		}
		report(b, runs)
	})
}

// settle waits until the webhooks so far are delivered and what they
// queued has had time to run.
func settle(b *testing.B, st *stack.Stack) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 3 {
		if err := st.Emulator.WaitDeliveries(ctx); err != nil {
			b.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
