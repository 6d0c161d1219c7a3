package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCLITestdriveServes: testdrive without --exit prints links that open
// in a browser (the PR page, the run page, the repository, the operators'
// pages) and serves them until interrupted.
func testCLITestdriveServes(t *testing.T, bin string) {
	tmp := publicTempDir(t, "specloop-cli-serve-")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "testdrive", "--timeout", "2m")
	cmd.Dir = tmp
	cmd.Env = append(cleanEnv("SANDBOX", "DATABASE_URL", "TMPDIR"), "TMPDIR="+tmp)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	links := map[string]string{}
	sc := bufio.NewScanner(out)
	linkRE := regexp.MustCompile(`^  (the pull request|the run page|the repository|all runs \(operator\)|the queue \(riverui\))\s+(http\S+)$`)
	var seen []string
	for sc.Scan() {
		line := sc.Text()
		seen = append(seen, line)
		if m := linkRE.FindStringSubmatch(line); m != nil {
			links[m[1]] = m[2]
		}
		if strings.HasPrefix(line, "  curl ") {
			break
		}
	}
	require.Len(t, links, 5, "testdrive printed:\n%s", strings.Join(seen, "\n"))
	go io.Copy(io.Discard, out)

	// A browser keeps the operator cookie that ?operator_token= sets.
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Timeout: 10 * time.Second, Jar: jar}
	for name, want := range map[string]string{
		"the pull request":    "Commits and checks",
		"the run page":        "Timeline",
		"the repository":      "Pull requests",
		"all runs (operator)": `<table id="runs">`,
		"the queue (riverui)": "<html",
	} {
		resp, err := client.Get(links[name])
		require.NoError(t, err, name)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", name, links[name], body)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html", name)
		require.Contains(t, string(body), want, name)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-exited:
		require.NoError(t, err, "testdrive stops cleanly on Ctrl-C")
	case <-time.After(time.Minute):
		t.Fatal("testdrive did not stop on SIGINT")
	}
}
