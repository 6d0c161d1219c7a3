package attest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	return k
}

func sample() *Statement {
	return NewStatement("acme/widgets", "0123456789abcdef0123456789abcdef01234567", Predicate{
		Repo: "acme/widgets", Run: "7", StartCommit: "89abcdef0123456789abcdef0123456789abcdef", Conclusion: "success",
		Spec: Spec{Path: "specs/a.md", SHA256: "aa"}, Obligation: Obligation{ID: "a-1", Text: "Do it"}, Weakening: []Finding{},
	})
}

func TestSealAndOpen(t *testing.T) {
	t.Parallel()
	current, old := newKey(t), newKey(t)
	pub := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

	env, err := (&Keys{Current: current}).Seal(sample())
	require.NoError(t, err)
	var e Envelope
	require.NoError(t, json.Unmarshal(env, &e))
	require.Equal(t, PayloadType, e.PayloadType)
	require.Len(t, e.Signatures, 1)
	require.Equal(t, KeyID(pub(current)), e.Signatures[0].KeyID)
	payload, err := base64.StdEncoding.DecodeString(e.Payload)
	require.NoError(t, err)
	require.Contains(t, string(payload), `"_type":"https://in-toto.io/Statement/v1"`)
	require.Contains(t, string(payload), `"digest":{"gitCommit":"0123456789abcdef0123456789abcdef01234567"}`)
	require.Contains(t, string(payload), `"predicateType":"`+PredicateType+`"`)

	s, id, err := Open(env, []ed25519.PublicKey{pub(current)})
	require.NoError(t, err)
	require.Equal(t, KeyID(pub(current)), id)
	require.Equal(t, "a-1", s.Predicate.Obligation.ID)

	// After a rotation the old key's statements still verify through
	// Previous, and the new key signs.
	rotated := &Keys{Current: newKey(t), Previous: []ed25519.PublicKey{pub(current)}}
	_, id, err = Open(env, rotated.Public())
	require.NoError(t, err)
	require.Equal(t, KeyID(pub(current)), id)

	_, _, err = Open(env, []ed25519.PublicKey{pub(old)})
	require.ErrorContains(t, err, "no signature verifies with the given key(s)")

	// A payload changed after signing does not verify.
	forged := strings.Replace(string(payload), `"conclusion":"success"`, `"conclusion":"failure"`, 1)
	e.Payload = base64.StdEncoding.EncodeToString([]byte(forged))
	tampered, err := json.Marshal(e)
	require.NoError(t, err)
	s, _, err = Open(tampered, []ed25519.PublicKey{pub(current)})
	require.Error(t, err)
	require.Equal(t, "failure", s.Predicate.Conclusion, "what it claims is still readable")

	// Without a key the envelope carries no signature.
	unsigned, err := (&Keys{}).Seal(sample())
	require.NoError(t, err)
	_, _, err = Open(unsigned, []ed25519.PublicKey{pub(current)})
	require.True(t, errors.Is(err, ErrUnsigned))
	_, _, err = Open([]byte(`{"payloadType":"text/plain","payload":""}`), nil)
	require.ErrorContains(t, err, `payloadType is "text/plain"`)
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	pub := k.Public().(ed25519.PublicKey)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	for name, v := range map[string]string{
		"base64 seed":     base64.StdEncoding.EncodeToString(k.Seed()),
		"raw base64 seed": base64.RawStdEncoding.EncodeToString(k.Seed()),
		"base64 64 bytes": base64.StdEncoding.EncodeToString(k),
		"PEM":             privPEM,
	} {
		got, err := ParsePrivateKey(v)
		require.NoError(t, err, name)
		require.True(t, got.Equal(k), name)
		if !strings.Contains(name, "seed") { // 32 bytes are a public key to ParsePublicKey
			gotPub, err := ParsePublicKey(v)
			require.NoError(t, err, name)
			require.True(t, gotPub.Equal(pub), name)
		}
	}
	for name, v := range map[string]string{"base64": base64.StdEncoding.EncodeToString(pub), "PEM": PublicPEM(pub)} {
		got, err := ParsePublicKey(v)
		require.NoError(t, err, name)
		require.True(t, got.Equal(pub), name)
	}
	_, err = ParsePrivateKey(base64.StdEncoding.EncodeToString([]byte("short")))
	require.ErrorContains(t, err, "5 bytes: an Ed25519 key is a 32-byte seed or a 64-byte key")
	_, err = ParsePrivateKey("not a key!")
	require.ErrorContains(t, err, "not base64 or PEM")
	bad := append(append([]byte{}, k.Seed()...), newKey(t).Public().(ed25519.PublicKey)...)
	_, err = ParsePrivateKey(base64.StdEncoding.EncodeToString(bad))
	require.ErrorContains(t, err, "does not match its seed")
}

// fakeRepo is a repository for CheckCommit.
type fakeRepo struct {
	commits map[string]string // rev → sha
	notes   map[string][]byte // sha → note
	files   map[string][]byte // "commit:path" → content
}

func (f fakeRepo) Commit(rev string) (string, error) {
	if s, ok := f.commits[rev]; ok {
		return s, nil
	}
	return "", errors.New("unknown revision")
}

func (f fakeRepo) Note(_, sha string) ([]byte, error) {
	if n, ok := f.notes[sha]; ok {
		return n, nil
	}
	return nil, errors.New("no note")
}

func (f fakeRepo) File(commit, path string) ([]byte, error) {
	if b, ok := f.files[commit+":"+path]; ok {
		return b, nil
	}
	return nil, errors.New("no such file")
}

func (f fakeRepo) IsAncestor(a, b string) (bool, error) { return a != b, nil }

func TestCheckCommit(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	keys := []ed25519.PublicKey{k.Public().(ed25519.PublicKey)}
	s := sample()
	s.Predicate.Spec.SHA256 = "a7d1a7c3e4ae7b79e9b4ee0a7f0d7b7db6f8a9d94b2ce4e1c5f5a5ad8e2df0c8" // not the file's
	env, err := (&Keys{Current: k}).Seal(s)
	require.NoError(t, err)
	sha, start := s.Commit(), s.Predicate.StartCommit
	repo := fakeRepo{
		commits: map[string]string{"HEAD": sha},
		notes:   map[string][]byte{sha: env},
		files:   map[string][]byte{start + ":specs/a.md": []byte("- [ ] [a-1] Do it\n")},
	}
	r, err := CheckCommit(repo, "HEAD", keys)
	require.NoError(t, err)
	require.False(t, r.OK())
	require.Contains(t, r.Text(), "FAIL spec          specs/a.md at the start commit hashes to")
	require.Contains(t, r.Text(), "ok   signature")

	_, err = CheckCommit(repo, "HEAD", nil)
	require.ErrorContains(t, err, "no public key")
	_, err = CheckCommit(repo, "nope", keys)
	require.ErrorContains(t, err, "resolve nope")
}
