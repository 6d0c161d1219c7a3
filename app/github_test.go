package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
)

// TestClientsTimeout: a GitHub that stops answering fails the request at
// the client's timeout, for API calls and token exchanges alike, with an
// error errors.Is sees as a deadline.
func TestClientsTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, hang string
		call       func(ctx context.Context, c *Clients, inst int64) error
	}{
		{"api request", "/repos/{owner}/{repo}", func(ctx context.Context, c *Clients, inst int64) error {
			_, _, err := c.Installation(inst).Repositories.Get(ctx, "acme", "widgets")
			return err
		}},
		{"token exchange", "/app/installations/{id}/access_tokens", func(ctx context.Context, c *Clients, inst int64) error {
			_, err := c.Token(ctx, inst)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const appID = 4343
			emu, err := emulator.New(emulator.Options{AppID: appID, AppPublicKey: &testKey().PublicKey})
			require.NoError(t, err)
			t.Cleanup(func() { _ = emu.Close() })
			base, err := emu.Start()
			require.NoError(t, err)
			_, err = emu.CreateRepo("acme", "widgets", emulator.RepoOptions{Files: map[string]string{"README.md": "# widgets\n"}})
			require.NoError(t, err)
			inst := emu.Install("acme")
			hang, err := emu.Inject(emulator.Fault{Path: tc.hang, Hang: true})
			require.NoError(t, err)

			clients, err := NewClients(&Config{AppID: appID, PrivateKey: testKey(), GitHubAPIURL: base + "/"}, WithRequestTimeout(2*time.Second))
			require.NoError(t, err)
			err = tc.call(t.Context(), clients, inst)
			require.Error(t, err)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.Positive(t, hang.Fired())

			hang.Remove()
			require.NoError(t, tc.call(t.Context(), clients, inst), "answered once GitHub is back")
		})
	}
}
