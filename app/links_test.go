package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLinks(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	l := NewLinks("https://specloop.example/", "secret", time.Hour)
	l.now = func() time.Time { return now }
	tok := l.Token(42)
	require.NoError(t, l.Verify(42, tok))
	require.ErrorIs(t, l.Verify(43, tok), ErrLinkInvalid, "a token opens one run only")
	require.ErrorIs(t, l.Verify(42, tok+"x"), ErrLinkInvalid)
	require.ErrorIs(t, l.Verify(42, "garbage"), ErrLinkInvalid)
	other := NewLinks("https://specloop.example", "other secret", time.Hour)
	other.now = l.now
	require.ErrorIs(t, other.Verify(42, tok), ErrLinkInvalid, "another key refuses it")
	now = now.Add(2 * time.Hour)
	require.ErrorIs(t, l.Verify(42, tok), ErrLinkExpired)
	require.Contains(t, l.RunURL(7), "https://specloop.example/runs/7?token=")
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) Getenv { return func(k string) string { return m[k] } }
	_, err := Load(env(nil), "webhook", "app", "database")
	require.Error(t, err)
	for _, name := range []string{"WEBHOOK_SECRET", "APP_ID", "PRIVATE_KEY", "DATABASE_URL"} {
		require.Contains(t, err.Error(), name)
	}
	_, err = Load(env(map[string]string{"WEBHOOK_SECRET": "s", "APP_ID": "1", "DATABASE_URL": "postgres://x", "PRIVATE_KEY": "not a key"}), "webhook", "app", "database")
	require.ErrorContains(t, err, "not a PEM-encoded RSA private key")
	_, err = Load(env(map[string]string{"WEBHOOK_SECRET": "s", "APP_ID": "x"}), "webhook")
	require.ErrorContains(t, err, "APP_ID \"x\" is not a positive number")
	c, err := Load(env(map[string]string{"WEBHOOK_SECRET": "s", "PORT": "8080", "RETENTION": "7d", "SANDBOX": "none"}), "webhook")
	require.NoError(t, err)
	require.Equal(t, 8080, c.Port)
	require.Equal(t, 7*24*time.Hour, c.Retention)
	require.Equal(t, "none", c.Sandbox)
	_, err = Load(env(map[string]string{"SANDBOX": "chroot"}))
	require.ErrorContains(t, err, "use bwrap, docker, kubernetes or none")
	require.Equal(t, DefaultShutdownGrace, c.ShutdownGrace)
	c, err = Load(env(map[string]string{"SHUTDOWN_GRACE": "5s"}))
	require.NoError(t, err)
	require.Equal(t, 5*time.Second, c.ShutdownGrace)
	_, err = Load(env(map[string]string{"SHUTDOWN_GRACE": "soon"}))
	require.ErrorContains(t, err, "SHUTDOWN_GRACE \"soon\" is not a duration")
}
