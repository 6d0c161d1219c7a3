package main

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/state"
	"github.com/specloop/specloop/store"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless Chromium with a fresh profile and no
// background traffic, and returns a tab's context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser tests need Chromium at %s (apt-get install -y chromium; .ci/run does): %v", chromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx), "start Chromium")
	return ctx
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

// until polls a JavaScript condition in the page until it holds.
func until(t *testing.T, ctx context.Context, what, js string, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	t.Fatalf("%s: not seen within %s; the page says:\n%s", what, wait, body)
}

// TestBrowser drives the product in a real browser: the run page follows a
// cycle live (steps and agent output appear without a reload), the
// emulator's PR page takes a `/loop next` through its form and shows the
// second cycle's checks, and a finished run page is photographed narrow
// and wide, light and dark (SPECLOOP_SCREENSHOTS names where; else the
// test's temp dir).
func TestBrowser(t *testing.T) {
	t.Parallel()
	st := newStack(t, stack.Options{LiveEvery: 100 * time.Millisecond, ProgressEvery: 500 * time.Millisecond, Keepalive: time.Second})
	ctx := newBrowser(t)
	dbctx := context.Background()

	// A slow agent on the first obligation, so there is time to watch.
	issue := openLabelledIssue(t, st, st.Repo, "Count widgets.\n\n- [ ] [count-1] Count widgets by colour [script:slow]\n- [ ] [count-2] Report the total\n")
	var run *store.Run
	var cy *store.Cycle
	deadline := time.Now().Add(time.Minute)
	for cy == nil && time.Now().Before(deadline) {
		if r, err := store.FindRun(dbctx, st.Server.Pool, st.Owner+"/"+st.Repo, issue); err == nil {
			if cs, err := store.ListCycles(dbctx, st.Server.Pool, r.ID); err == nil && len(cs) == 1 && cs[0].State == state.CycleRunning {
				run, cy = r, cs[0]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NotNil(t, cy, "the first cycle did not start")

	// The run page, opened while the cycle runs, follows it without reload.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(st.Links.RunURL(run.ID))))
	eval[int](t, ctx, "window.__notReloaded = 1")
	logSel := fmt.Sprintf("document.getElementById('log-%d-implement')", cy.ID)
	sawLive := false
	deadline = time.Now().Add(time.Minute)
	for !sawLive && time.Now().Before(deadline) {
		text := eval[string](t, ctx, fmt.Sprintf("(%s||{textContent:''}).textContent", logSel))
		running := eval[bool](t, ctx, `!!document.querySelector('tr.step.running[data-step="implement"]')`)
		if strings.Contains(text, "scripted agent: working, step") && running {
			// Seen on the page while the cycle still runs.
			c, err := store.GetCycle(dbctx, st.Server.Pool, cy.ID)
			require.NoError(t, err)
			sawLive = c.State == state.CycleRunning
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, sawLive, "the agent's output did not appear on the run page while the cycle ran")
	until(t, ctx, "the whole agent log", fmt.Sprintf("(%s||{textContent:''}).textContent.includes('working, step 8 of 8')", logSel), time.Minute)
	until(t, ctx, "the later steps", `!!document.querySelector('tr.step[data-step="verify"]') && !!document.querySelector('tr.step[data-step="audit"]')`, time.Minute)
	until(t, ctx, "the conclusion", `document.getElementById('run-status').textContent === 'success'`, 2*time.Minute)
	until(t, ctx, "the stream's end", `document.body.dataset.ended === '1'`, 30*time.Second)
	require.Equal(t, 1, eval[int](t, ctx, "window.__notReloaded || 0"), "the page reloaded")
	require.True(t, eval[bool](t, ctx, `document.body.innerText.includes('count-1')`))
	// A prompt opens inline.
	eval[bool](t, ctx, `(() => { const d = [...document.querySelectorAll('details[id^="art-"]')].find(d => d.querySelector('summary').textContent.includes('prompt-implementer.md')); d.open = true; return true })()`)
	until(t, ctx, "the implementer's prompt inline", `[...document.querySelectorAll('details[id^="art-"][open] pre')].some(p => p.textContent.includes('count-1') && p.textContent.includes('Count widgets by colour'))`, 30*time.Second)

	// The emulator's PR page, in a second tab: comment /loop next through
	// its form. The run page stays open in the first.
	runTab := ctx
	prTab, closePR := chromedp.NewContext(ctx)
	defer closePR()
	run, err := store.GetRun(dbctx, st.Server.Pool, run.ID)
	require.NoError(t, err)
	require.NotZero(t, run.PR)
	prURL := fmt.Sprintf("%s/%s/%s/pull/%d", st.Emulator.URL(), st.Owner, st.Repo, run.PR)
	require.NoError(t, chromedp.Do(prTab, chromedp.Navigate(prURL)))
	require.Equal(t, 1, eval[int](t, prTab, `document.querySelectorAll('#commits .commit').length`))
	require.Equal(t, 3, eval[int](t, prTab, `document.querySelectorAll('#commits .commit .check[data-conclusion="success"]').length`))
	require.True(t, eval[bool](t, prTab, `document.body.innerText.includes('cycle ') && !!document.querySelector('#comments')`))
	require.Equal(t, "maintainer", eval[string](t, prTab, `document.querySelector('#comment-form select[name=as]').value`))
	eval[bool](t, prTab, `(() => { const f = document.getElementById('comment-form'); f.querySelector('textarea').value = '/loop next'; f.querySelector('button').click(); return true })()`)
	until(t, prTab, "the comment on the PR page", `[...document.querySelectorAll('#comments .comment .body')].some(b => b.textContent.trim() === '/loop next')`, 30*time.Second)
	until(t, prTab, "the second cycle's checks", `(() => {
		const commits = document.querySelectorAll('#commits .commit');
		if (commits.length < 2) return false;
		const names = [...commits[0].querySelectorAll('.check[data-conclusion="success"]')].map(c => c.dataset.name).sort();
		return names.join(',') === 'specloop/audit,specloop/implement,specloop/verify';
	})()`, 2*time.Minute)
	_, cycles := waitCycles(t, st, st.Repo, issue, 2)
	require.Equal(t, "count-2", cycles[1].ObligationID)
	// The run page left open follows the second cycle without a reload.
	until(t, runTab, "the second cycle on the open run page", fmt.Sprintf(
		`!!document.querySelector('#cycle-%d .badge.success') && document.getElementById('run-status').textContent === 'success'`, cycles[1].ID), time.Minute)
	require.Equal(t, 1, eval[int](t, runTab, "window.__notReloaded || 0"), "the run page reloaded")
	// One progress comment, edited in place, on the PR page too.
	require.Equal(t, 1, eval[int](t, prTab, `[...document.querySelectorAll('#comments .comment .body')].filter(b => b.textContent.includes('specloop · cycle')).length`))

	// Screenshots of the finished run page, narrow and wide (and of the
	// emulator's PR page, for a look at the progress comment and checks).
	dir := os.Getenv("SPECLOOP_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	shot, err := chromedp.Run(prTab, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "emulator-pr.png"), shot, 0o644))
	t.Logf("screenshot of the PR page: %s", filepath.Join(dir, "emulator-pr.png"))
	for _, vp := range []struct {
		name          string
		width, height int64
		scheme        string
		background    string
	}{{"narrow", 390, 844, "light", "rgb(255, 255, 255)"}, {"wide", 1440, 900, "light", "rgb(255, 255, 255)"}, {"wide-dark", 1440, 900, "dark", "rgb(13, 17, 23)"}} {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: vp.scheme}}})
		require.NoError(t, err)
		require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(vp.width, vp.height), chromedp.Navigate(st.Links.RunURL(run.ID))))
		until(t, ctx, "the finished page", `document.getElementById('run-status').textContent === 'success' && document.body.dataset.ended === '1'`, 30*time.Second)
		// Nothing wider than the screen: it reads on a phone.
		require.LessOrEqual(t, eval[int](t, ctx, "document.documentElement.scrollWidth"), int(vp.width), "%s: the page scrolls sideways", vp.name)
		require.Equal(t, vp.background, eval[string](t, ctx, "getComputedStyle(document.body).backgroundColor"), "%s colours", vp.name)
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		img, err := png.Decode(bytes.NewReader(shot))
		require.NoError(t, err)
		require.Equal(t, int(vp.width), img.Bounds().Dx())
		require.Greater(t, img.Bounds().Dy(), int(vp.height)/2)
		path := filepath.Join(dir, fmt.Sprintf("run-page-%s.png", vp.name))
		require.NoError(t, os.WriteFile(path, shot, 0o644))
		t.Logf("screenshot %s: %s (%dx%d)", vp.name, path, img.Bounds().Dx(), img.Bounds().Dy())
	}

	// The operators' pages open in the browser with the token once.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(st.URL+"/runs?operator_token="+st.OperatorToken)))
	require.True(t, eval[bool](t, ctx, fmt.Sprintf(`!!document.querySelector('tr.run[data-run="%d"]')`, run.ID)))
	require.False(t, eval[bool](t, ctx, `location.search.includes('operator_token')`), "the token stays out of the address bar")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(st.URL+"/riverui/")))
	until(t, ctx, "riverui", `document.title.toLowerCase().includes('river')`, 30*time.Second)
	resp, err := http.Get(st.URL + "/riverui/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "riverui without the token")

	// A person opens another issue with the label through the repo page's
	// form, then follows the progress comment's link to the run page.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/%s/%s", st.Emulator.URL(), st.Owner, st.Repo))))
	eval[bool](t, ctx, `(() => { const f = document.getElementById('new-issue');
		f.querySelector('[name=title]').value = 'Changelog';
		f.querySelector('[name=body]').value = '- [ ] [log-1] Add a changelog entry';
		f.querySelector('[name=label]').value = 'specloop';
		f.querySelector('button').click(); return true })()`)
	until(t, ctx, "the new issue on the repo page", `document.body.innerText.includes('Changelog')`, 30*time.Second)
	number := eval[int](t, ctx, `Number([...document.querySelectorAll('#issues a')].find(a => a.textContent.includes('Changelog')).textContent.match(/#(\d+)/)[1])`)
	run2, _ := waitCycles(t, st, st.Repo, number, 1)
	require.NotZero(t, run2.PR)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/%s/%s/pull/%d", st.Emulator.URL(), st.Owner, st.Repo, run2.PR))))
	eval[bool](t, ctx, `(() => { [...document.querySelectorAll('#comments a')].find(a => a.textContent === 'Run page').click(); return true })()`)
	until(t, ctx, "the second run's page", fmt.Sprintf(`location.pathname === '/runs/%d' && document.getElementById('run-status').textContent === 'success'`, run2.ID), 30*time.Second)
}
