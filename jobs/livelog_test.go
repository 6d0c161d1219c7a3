package jobs

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/agent"
)

// recorder collects what a liveLog emits.
type recorder struct {
	mu     sync.Mutex
	chunks []string
}

func (r *recorder) emit(_ context.Context, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chunks = append(r.chunks, s)
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.chunks...)
}

func TestLiveLogChunks(t *testing.T) {
	t.Parallel()
	key := "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx1\nabcdefghijklmnop\n-----END RSA PRIVATE KEY-----\n"
	tests := []struct {
		name   string
		writes []string
		pause  bool // wait for a chunk between writes
		want   []string
	}{
		{"many writes in one interval are one chunk", []string{"a\n", "b\n", "c\n"}, false, []string{"a\nb\nc\n"}},
		{"an unfinished line waits for its end", []string{"half", " line\nnext"}, true, []string{"half line\n", "next"}},
		{"secrets are redacted", []string{"token ghp_" + strings.Repeat("x", 36) + " here\n"}, false, []string{"token [REDACTED] here\n"}},
		{"a private key split across writes is masked whole", []string{"before\n" + key[:40], key[40:] + "after\n"}, true, []string{"before\n", "[REDACTED]\nafter\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			l := &liveLog{every: 30 * time.Millisecond, red: agent.NewRedactor(), emit: rec.emit, ctx: context.Background()}
			for _, w := range tt.writes {
				n, err := l.Write([]byte(w))
				require.NoError(t, err)
				require.Equal(t, len(w), n)
				if tt.pause {
					time.Sleep(150 * time.Millisecond)
				}
			}
			require.NoError(t, l.Close())
			require.Equal(t, tt.want, rec.all())
			// Nothing after Close.
			l.Write([]byte("late\n"))
			time.Sleep(60 * time.Millisecond)
			require.Equal(t, tt.want, rec.all())
		})
	}
}

func TestLiveLogCap(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	l := &liveLog{every: time.Hour, red: agent.NewRedactor(), emit: rec.emit, ctx: context.Background()}
	line := strings.Repeat("y", 1023) + "\n"
	for i := 0; i < liveCap/len(line)+10; i++ {
		l.Write([]byte(line))
	}
	require.NoError(t, l.Close())
	got := strings.Join(rec.all(), "")
	const note = "\n[live log capped here; the whole log is stored with the step]\n"
	require.True(t, strings.HasSuffix(got, note))
	require.Equal(t, liveCap, len(got)-len(note), "the output up to the cap, then the note")
}

func TestLiveLogDrop(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	l := &liveLog{every: 20 * time.Millisecond, red: agent.NewRedactor(), emit: rec.emit, ctx: context.Background()}
	l.Write([]byte("from a worker that lost the cycle\n"))
	l.drop()
	time.Sleep(80 * time.Millisecond)
	require.NoError(t, l.Close())
	require.Empty(t, rec.all())
}
