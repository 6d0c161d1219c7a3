package app

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/attest"
)

// TestLoadEvidenceKey: EVIDENCE_KEY signs, the keys of
// EVIDENCE_KEY_PREVIOUS still verify after a rotation, neither is
// required, a bad one is refused naming the variable, and all of them are
// secrets.
func TestLoadEvidenceKey(t *testing.T) {
	t.Parallel()
	gen := func() (string, ed25519.PrivateKey) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		require.NoError(t, err)
		return base64.StdEncoding.EncodeToString(k.Seed()), k
	}
	cur, curKey := gen()
	old1, oldKey1 := gen()
	_, oldKey2 := gen()
	pemPub := attest.PublicPEM(oldKey2.Public().(ed25519.PublicKey))
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

	for _, tc := range []struct {
		name     string
		key, old string
		signs    bool
		verifies []ed25519.PublicKey
		wantErr  string
	}{
		{name: "unset: unsigned"},
		{name: "current", key: cur, signs: true, verifies: []ed25519.PublicKey{pub(curKey)}},
		{name: "rotated", key: cur, old: old1 + "," + pemPub, signs: true, verifies: []ed25519.PublicKey{pub(curKey), pub(oldKey1), pub(oldKey2)}},
		{name: "bad key", key: "c2hvcnQ=", wantErr: "EVIDENCE_KEY: 5 bytes: an Ed25519 key is a 32-byte seed or a 64-byte key"},
		{name: "bad previous", key: cur, old: "nope!", wantErr: "EVIDENCE_KEY_PREVIOUS, key 1: not base64 or PEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"EVIDENCE_KEY": tc.key, "EVIDENCE_KEY_PREVIOUS": tc.old}
			c, err := Load(func(k string) string { return env[k] })
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.signs, c.EvidenceKeys.Current != nil)
			require.Equal(t, tc.verifies, c.EvidencePublicKeys())
			if tc.key != "" {
				require.Contains(t, c.Secrets(), tc.key)
			}
			if tc.old != "" {
				require.Contains(t, c.Secrets(), old1)
			}
		})
	}
}
