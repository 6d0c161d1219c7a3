package markdown

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestCell(t *testing.T) {
	t.Parallel()
	require.Equal(t, `a \| b c`, Cell("a | b\nc"))
}

func TestTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "abc", 10, "abc"},
		{"cut", "abcdef", 2, "… (earlier output in the full log)\nef"},
		{"inside a character", "aéé", 3, "… (earlier output in the full log)\né"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Tail(tt.in, tt.n))
		})
	}
}

func TestCap(t *testing.T) {
	t.Parallel()
	require.Equal(t, "fine", Cap("fine", 10, "!"))
	long := strings.Repeat("é", 100) // two bytes each
	got := Cap(long, 51, " [cut]")
	require.LessOrEqual(t, len(got), 51)
	require.True(t, utf8.ValidString(got), "not cut inside a character")
	require.True(t, strings.HasSuffix(got, " [cut]"))
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a b c", OneLine("a\n b\tc", 10))
	require.Equal(t, "abc…", OneLine("abcdef", 3))
	require.True(t, utf8.ValidString(OneLine("ééé", 3)))
}
