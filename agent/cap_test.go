package agent

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		max       int
		want      string
		truncated bool
	}{
		{"short", "hello", 10, "hello", false},
		{"exact", "hello", 5, "hello", false},
		{"no cap", "hello", 0, "hello", false},
		{"head and tail", "0123456789abcdefghij", 10, "01234\n[… 10 bytes elided …]\nfghij", true},
		{"utf-8 boundaries", "ééééé", 5, "é\n[… 6 bytes elided …]\né", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, truncated := Cap([]byte(tt.in), tt.max)
			require.Equal(t, tt.want, string(out))
			require.Equal(t, tt.truncated, truncated)
			require.True(t, utf8.Valid(out))
		})
	}
}

func TestCapLarge(t *testing.T) {
	t.Parallel()
	in := "START" + strings.Repeat("x", 1<<20) + "END"
	out, truncated := Cap([]byte(in), 1000)
	require.True(t, truncated)
	require.True(t, strings.HasPrefix(string(out), "START"))
	require.True(t, strings.HasSuffix(string(out), "END"))
	require.Less(t, len(out), 1100)
}
