package repoconfig

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// ImageAllowed: an entry names an image exactly, or ends in "/" (a path)
// or ":" (a repository's tags); anything else, or no entries, refuses
// with the image and the setting named.
func TestImageAllowed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		image string
		allow []string
		ok    bool
	}{
		{image: "", ok: true},
		{image: "ghcr.io/acme/sb:1", allow: nil},
		{image: "ghcr.io/acme/sb:1", allow: []string{"ghcr.io/acme/sb:1"}, ok: true},
		{image: "ghcr.io/acme/sb:1", allow: []string{"ghcr.io/acme/"}, ok: true},
		{image: "ghcr.io/acme/sb:1", allow: []string{"ghcr.io/acme/sb:"}, ok: true},
		{image: "ghcr.io/acme-evil/sb:1", allow: []string{"ghcr.io/acme"}},
		{image: "ghcr.io/acme-evil/sb:1", allow: []string{"ghcr.io/acme/"}},
		{image: "ghcr.io/acme/sb:1", allow: []string{"ghcr.io/acme/sb"}},
		{image: "ghcr.io/acme/sb:1", allow: []string{" ", "ghcr.io/other/"}},
	} {
		err := ImageAllowed(tc.image, tc.allow)
		if tc.ok {
			require.NoError(t, err, "%s %v", tc.image, tc.allow)
			continue
		}
		require.Error(t, err, "%s %v", tc.image, tc.allow)
		require.Contains(t, err.Error(), `sandbox.image "`+tc.image+`"`)
		require.Contains(t, err.Error(), "KUBE_IMAGES")
	}
}

func TestParseSandboxImage(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("sandbox: {image: ghcr.io/acme/sb:1}\n"))
	require.NoError(t, err)
	require.Equal(t, "ghcr.io/acme/sb:1", c.Sandbox.Image)
	_, err = Parse([]byte("sandbox: {image: \"ghcr.io/acme/sb:1 --privileged\"}\n"))
	require.ErrorContains(t, err, `sandbox.image "ghcr.io/acme/sb:1 --privileged" is not an image reference`)
	_, err = Parse([]byte("sandbox: {imag: x}\n"))
	require.Error(t, err, "unknown keys are refused")
}
