package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/handlers"
	"github.com/specloop/specloop/internal/procs"
	"github.com/specloop/specloop/internal/syncbuf"
	"github.com/specloop/specloop/store"
	"github.com/specloop/specloop/store/storetest"
)

// testCLIShutdown: `specloop serve` on SIGTERM stops taking requests, lets
// an open event stream go, stops its workers and exits 0.
func testCLIShutdown(t *testing.T, bin string) {
	ctx := context.Background()
	dbURL := storetest.URL(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	dir := publicTempDir(t, "specloop-shutdown-")
	keyPath := filepath.Join(dir, "app.pem")
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600))
	em, err := emulator.New(emulator.Options{AppID: 7, AppPublicKey: &key.PublicKey, AppSlug: "specloop"})
	require.NoError(t, err)
	emURL, err := em.Start()
	require.NoError(t, err)
	t.Cleanup(func() { em.Close() })

	// PORT=0: serve binds a free port itself and logs it, so no port is
	// picked here, closed, and maybe taken by someone else before serve
	// binds it.
	const secret = "shutdown-secret"
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "WEBHOOK_SECRET=" + secret, "APP_ID=7",
		"PRIVATE_KEY_PATH=" + keyPath, "DATABASE_URL=" + dbURL, "GITHUB_API_URL=" + emURL, "PORT=0",
		"SANDBOX=none", "MIRROR_DIR=" + filepath.Join(dir, "mirrors")}
	// The child writes stderr from exec's copying goroutine while the test
	// reads it: a locked buffer, not a bare strings.Builder.
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	var base string
	ready := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !ready; time.Sleep(100 * time.Millisecond) {
		if base == "" {
			addr, ok := procs.StartedAddr(stderr.String())
			if !ok {
				continue
			}
			base = "http://" + addr
		}
		if resp, err := http.Get(base + "/readyz"); err == nil {
			ready = resp.StatusCode == 200
			resp.Body.Close()
		}
	}
	require.True(t, ready, "serve became ready: %s", stderr.String())

	// A run and a client following its event stream.
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()
	run, err := store.UpsertRun(ctx, pool, &store.Run{Repo: "o/r", InstallationID: 1, Branch: "specloop/issue-1", Kind: "issue", Issue: 1})
	require.NoError(t, err)
	links := app.NewLinks(base, secret, time.Hour)
	resp, err := http.Get(fmt.Sprintf("%s/runs/%d/events?token=%s", base, run.ID, links.Token(run.ID)))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	streamEnded := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
		}
		close(streamEnded)
	}()

	// A delivery accepted just before the signal is recorded.
	body := []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`)
	req, _ := http.NewRequest("POST", base+"/webhooks", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "ping")
	req.Header.Set("X-GitHub-Delivery", "before-sigterm")
	req.Header.Set("X-Hub-Signature-256", handlers.Sign(secret, body))
	wres, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	wres.Body.Close()
	require.Equal(t, 202, wres.StatusCode)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "exit 0 after SIGTERM: %s", stderr.String())
	case <-time.After(40 * time.Second):
		t.Fatalf("serve did not exit after SIGTERM: %s", stderr.String())
	}
	select {
	case <-streamEnded:
	case <-time.After(5 * time.Second):
		t.Fatal("the event stream was left open")
	}
	require.Contains(t, stderr.String(), "shutting down")
	require.Contains(t, stderr.String(), "River client stopped")
	_, err = http.Get(base + "/healthz")
	require.Error(t, err, "no longer taking requests")
	d, err := store.GetDelivery(ctx, pool, "before-sigterm")
	require.NoError(t, err)
	require.Equal(t, "ping", d.Event)
}
