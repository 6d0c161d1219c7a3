package emulator

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/require"
)

func TestWebhookHeadersAndSignature(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, _, err := b.maintainer.Issues.Create(context.Background(), "acme", "widgets", &github.IssueRequest{Title: github.String("x")})
	require.NoError(t, err)
	b.drain(t)
	got := b.hooks.events("issues", "opened")
	require.Len(t, got, 1)
	h := got[0].header

	mac := hmac.New(sha256.New, []byte(testSecret))
	mac.Write(got[0].body)
	require.Equal(t, "sha256="+hex.EncodeToString(mac.Sum(nil)), h.Get("X-Hub-Signature-256"))
	// go-github's own check agrees.
	require.NoError(t, github.ValidateSignature(h.Get("X-Hub-Signature-256"), got[0].body, []byte(testSecret)))

	require.Len(t, h.Get("X-GitHub-Delivery"), 36)
	require.NotEmpty(t, h.Get("X-GitHub-Hook-ID"))
	require.Equal(t, "integration", h.Get("X-GitHub-Hook-Installation-Target-Type"))
	require.Equal(t, strconv.Itoa(testAppID), h.Get("X-GitHub-Hook-Installation-Target-ID"))
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.Equal(t, "GitHub-Hookshot/emulator", h.Get("User-Agent"))

	ev, err := github.ParseWebHook(h.Get("X-GitHub-Event"), got[0].body)
	require.NoError(t, err)
	require.Equal(t, "opened", ev.(*github.IssuesEvent).GetAction())
}

func TestFailedDeliveryAndRedeliver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.drain(t)
	b.hooks.setStatus(http.StatusInternalServerError)
	_, _, err := b.maintainer.Issues.Create(context.Background(), "acme", "widgets", &github.IssueRequest{Title: github.String("x")})
	require.NoError(t, err)
	b.drain(t)

	var failed *Delivery
	for _, d := range b.s.Deliveries() {
		if d.Event == "issues" {
			failed = &d
		}
	}
	require.NotNil(t, failed)
	require.True(t, failed.Done)
	require.False(t, failed.OK())
	require.Equal(t, http.StatusInternalServerError, failed.StatusCode)
	require.Equal(t, "opened", failed.Action)
	require.Equal(t, "acme/widgets", failed.Repo)

	b.hooks.setStatus(http.StatusOK)
	require.NoError(t, b.s.Redeliver(failed.GUID))
	b.drain(t)
	got := b.hooks.events("issues", "opened")
	require.Len(t, got, 2)
	require.Equal(t, failed.GUID, got[1].header.Get("X-GitHub-Delivery"))
	require.Equal(t, got[0].body, got[1].body)
	ds := b.s.Deliveries()
	last := ds[len(ds)-1]
	require.True(t, last.Redelivery)
	require.True(t, last.OK())
	require.Error(t, b.s.Redeliver("no-such-guid"))

	// With no URL a delivery is recorded as failed, ready for later.
	b.s.SetWebhookURL("")
	_, _, err = b.maintainer.Issues.Create(context.Background(), "acme", "widgets", &github.IssueRequest{Title: github.String("y")})
	require.NoError(t, err)
	b.drain(t)
	ds = b.s.Deliveries()
	require.Equal(t, "no webhook URL", ds[len(ds)-1].Err)
}
