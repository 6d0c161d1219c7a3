package workspace

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator"
)

// TestRemoteHangs: a fetch or push whose remote stops answering (the
// emulator holds git's request and never replies) fails with a StallError
// that names the call and what to do, whichever of the timeout and the
// low-speed limit ends it; errors.Is sees a deadline.
func TestRemoteHangs(t *testing.T) {
	t.Parallel()
	const (
		receivePack = "/{owner}/{repo}.git/git-receive-pack"
		uploadPack  = "/{owner}/{repo}.git/git-upload-pack"
	)
	// Each case lets one limit end the call: the other is an hour.
	for _, tc := range []struct {
		name       string
		hang       string // the git request that never gets an answer
		deadlines  Deadlines
		push       bool
		want       string
		noProgress bool
	}{
		{"push, no progress", receivePack, Deadlines{Push: time.Hour, LowSpeedTime: time.Second}, true,
			"git push to specloop/x made no progress for 1s: the remote stopped answering", true},
		{"push, timeout", receivePack, Deadlines{Push: 2 * time.Second, LowSpeedTime: time.Hour}, true,
			"git push to specloop/x did not finish within 2s: the remote stopped answering", false},
		{"fetch, no progress", uploadPack, Deadlines{Fetch: time.Hour, LowSpeedTime: time.Second}, false,
			"made no progress for 1s: the remote stopped answering", true},
		{"fetch, timeout", uploadPack, Deadlines{Fetch: 2 * time.Second, LowSpeedTime: time.Hour}, false,
			"did not finish within 2s: the remote stopped answering", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			emu, err := emulator.New(emulator.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = emu.Close() })
			base, err := emu.Start()
			require.NoError(t, err)
			_, err = emu.CreateRepo("acme", "widgets", emulator.RepoOptions{Private: true, Files: map[string]string{"a.txt": "one\n"}})
			require.NoError(t, err)
			token := emu.AddUser("maintainer")
			emu.SetPermission("acme", "widgets", "maintainer", "write")
			url := base + "/acme/widgets.git"

			c := newCache(t, false)
			mirror, err := c.Fetch(ctx, url, token)
			require.NoError(t, err)
			sha := gitT(t, mirror, "rev-parse", "main")
			w, err := c.Checkout(ctx, url, sha)
			require.NoError(t, err)
			t.Cleanup(func() { w.Close() })
			require.NoError(t, w.WriteFile("b.txt", []byte("bee\n")))
			_, err = w.Commit(ctx, "add b", Signature{Name: "bot", Email: "bot@example.com"})
			require.NoError(t, err)

			// The limits apply to calls made after they are set, by the
			// cache and by the Workdirs it made before.
			c.Deadlines, w.deadlines = tc.deadlines, tc.deadlines
			hang, err := emu.Inject(emulator.Fault{Path: tc.hang, Hang: true})
			require.NoError(t, err)
			if tc.push {
				err = w.Push(ctx, PushOptions{RemoteURL: url, Token: token, Branch: "specloop/x"})
			} else {
				_, err = c.Fetch(ctx, url, token)
			}
			require.Error(t, err)
			require.Positive(t, hang.Fired(), "the remote hung")
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), "check that it is reachable")
			require.NotContains(t, err.Error(), token)
			var stall *StallError
			require.ErrorAs(t, err, &stall)
			require.Equal(t, tc.noProgress, stall.NoProgress)
			require.ErrorIs(t, err, context.DeadlineExceeded)

			// Once the remote answers again, so does the call.
			hang.Remove()
			if tc.push {
				require.NoError(t, w.Push(ctx, PushOptions{RemoteURL: url, Token: token, Branch: "specloop/x"}))
			} else {
				_, err = c.Fetch(ctx, url, token)
				require.NoError(t, err)
			}
		})
	}
}

// TestRemoteCallerDeadline: when the caller's own context ends the call
// (a stop, a shutdown, its own deadline), that is not the remote's stall.
func TestRemoteCallerDeadline(t *testing.T) {
	t.Parallel()
	emu, err := emulator.New(emulator.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = emu.Close() })
	base, err := emu.Start()
	require.NoError(t, err)
	_, err = emu.CreateRepo("acme", "widgets", emulator.RepoOptions{Files: map[string]string{"a.txt": "one\n"}})
	require.NoError(t, err)
	hang, err := emu.Inject(emulator.Fault{Path: "/{owner}/{repo}.git/info/refs", Hang: true})
	require.NoError(t, err)

	c := newCache(t, false)
	c.Deadlines = Deadlines{Fetch: time.Hour, LowSpeedTime: time.Hour}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err = c.Fetch(ctx, base+"/acme/widgets.git", "")
	require.Error(t, err)
	require.Positive(t, hang.Fired(), "the remote hung")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	var stall *StallError
	require.False(t, errors.As(err, &stall), "%v", err)
}
