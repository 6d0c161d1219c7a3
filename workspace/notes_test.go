package workspace

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPushNote: two cycles attach notes to their commits and push the
// notes ref; the second adds on top of the first's, so both stay, and a
// note can be read back.
func TestPushNote(t *testing.T) {
	t.Parallel()
	r := newRemote(t)
	ctx := t.Context()
	bot := Signature{Name: "specloop[bot]", Email: "specloop[bot]@users.noreply.github.com"}
	const ref = "refs/notes/specloop"

	var shas []string
	for i, name := range []string{"a.go", "b.go"} {
		w := checkout(t, newCache(t, true), r, r.new)
		require.NoError(t, w.WriteFile(name, []byte("package x\n")))
		sha, err := w.Commit(ctx, "change "+name, bot)
		require.NoError(t, err)
		require.NoError(t, w.Push(ctx, PushOptions{RemoteURL: r.dir, SHA: sha, Branch: "specloop/x" + name[:1], Force: true}))
		note := []byte(`{"statement": ` + string(rune('1'+i)) + "}\n")
		require.NoError(t, w.PushNote(ctx, NoteOptions{RemoteURL: r.dir, Ref: ref, SHA: sha, Note: note, Author: bot}))
		got, err := w.Note(ctx, ref, sha)
		require.NoError(t, err)
		require.Equal(t, string(note), string(got))
		shas = append(shas, sha)
	}
	require.Equal(t, "{\"statement\": 1}", gitT(t, r.dir, "notes", "--ref=specloop", "show", shas[0]), "the first note survives the second push")
	require.Equal(t, "{\"statement\": 2}", gitT(t, r.dir, "notes", "--ref=specloop", "show", shas[1]))

	w := checkout(t, newCache(t, true), r, r.new)
	require.ErrorContains(t, w.PushNote(ctx, NoteOptions{RemoteURL: r.dir, Ref: "refs/heads/main", SHA: shas[0], Note: []byte("x"), Author: bot}), "is not a notes ref")
	require.ErrorContains(t, w.PushNote(ctx, NoteOptions{RemoteURL: r.dir, Ref: ref, SHA: "HEAD", Note: []byte("x"), Author: bot}), "is not a commit sha")
}
