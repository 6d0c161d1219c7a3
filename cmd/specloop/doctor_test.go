package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/internal/agentclis"
	"github.com/specloop/specloop/internal/stack"
	"github.com/specloop/specloop/store/storetest"
)

// TestDoctor checks a worker host the way an operator would: the real CLIs
// and their versions, credentials named but never printed, the tool paths,
// the sandbox, the database and GitHub (the emulator).
func TestDoctor(t *testing.T) {
	t.Parallel()
	clis := agentclis.Dir(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	em, err := emulator.New(emulator.Options{AppID: 7, AppPublicKey: &key.PublicKey, AppSlug: "doctor-app", WebhookSecret: "s", Dir: t.TempDir()})
	require.NoError(t, err)
	url, err := em.Start()
	require.NoError(t, err)
	t.Cleanup(func() { em.Close() })
	const secret = "sk-doctor-0000000000000000000000000000"
	env := map[string]string{
		"PATH":           filepath.Join(clis, "node_modules", ".bin") + ":/usr/bin:/bin",
		"CODEX_API_KEY":  secret,
		"DATABASE_URL":   storetest.URL(t),
		"APP_ID":         "7",
		"PRIVATE_KEY":    string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})),
		"GITHUB_API_URL": url,
		"SANDBOX":        "bwrap",
		"SANDBOX_CGROUP": "off",
	}
	var out bytes.Buffer
	for _, c := range stack.Doctor(context.Background(), func(k string) string { return env[k] }) {
		out.WriteString(c.Level + " " + c.Name + " " + c.Detail + " " + c.Fix + "\n")
	}
	got := out.String()
	for _, want := range []string{
		"ok agent codex codex-cli " + stack.CodexVersion,
		"ok agent claude " + stack.ClaudeCodeVersion + " (Claude Code)",
		"ok credential codex CODEX_API_KEY is set",
		"warn credential claude none of ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN is set",
		"ok agent gemini " + stack.GeminiCLIVersion,
		"ok agent opencode " + stack.OpencodeVersion,
		"ok tool paths bound read-only: " + clis,
		"ok sandbox bwrap",
		"warn sandbox memory an address-space limit per process, not a cgroup: SANDBOX_CGROUP=off; 64 GiB of address space per process instead",
		"ok database connected",
		"ok github app doctor-app at " + url,
	} {
		require.Contains(t, got, want)
	}
	require.NotContains(t, got, secret, "a credential is named, never printed")

	// A broken host: no database, no app.
	bad := map[string]string{"PATH": "/usr/bin:/bin", "SANDBOX_MEMORY": "lots"}
	out.Reset()
	for _, c := range stack.Doctor(context.Background(), func(k string) string { return bad[k] }) {
		out.WriteString(c.Level + " " + c.Name + " " + c.Detail + " — fix: " + c.Fix + "\n")
	}
	got = out.String()
	require.Contains(t, got, "fail agents no preset's CLI is installed")
	require.Contains(t, got, "warn agent codex codex not found on PATH — fix: install it (npm install -g @openai/codex@"+stack.CodexVersion+")")
	require.Contains(t, got, "fail sandbox memory SANDBOX_MEMORY \"lots\"")
	require.Contains(t, got, "fail database DATABASE_URL is not set")
	require.Contains(t, got, "fail github APP_ID is not set")
	require.Equal(t, strings.Count(got, "\n"), len(strings.Split(strings.TrimSpace(got), "\n")), "one line each")
}
