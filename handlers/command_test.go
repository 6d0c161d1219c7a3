package handlers

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want Command
		ok   bool
	}{
		{"next", "/loop next", Command{Name: "next", Args: []string{}}, true},
		{"leading blank lines", "\n\n  /loop status\nthanks", Command{Name: "status", Args: []string{}}, true},
		{"bare is help", "/loop", Command{Name: "help"}, true},
		{"unknown kept", "/loop frobnicate now", Command{Name: "frobnicate", Args: []string{"now"}}, true},
		{"case folded", "/loop NEXT", Command{Name: "next", Args: []string{}}, true},
		{"crlf", "/loop retry\r\nplease", Command{Name: "retry", Args: []string{}}, true},
		{"not first line", "please run\n/loop next", Command{}, false},
		{"quoted ignored then command", "> /loop stop\n/loop next", Command{Name: "next", Args: []string{}}, true},
		{"only quoted", "> /loop stop", Command{}, false},
		{"code block ignored", "```\n/loop stop\n```\n/loop status", Command{Name: "status", Args: []string{}}, true},
		{"tilde fence", "~~~\n/loop stop\n~~~", Command{}, false},
		{"indented code", "    /loop stop", Command{}, false},
		{"prefix not enough", "/looping next", Command{}, false},
		{"empty", "", Command{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseCommand(tt.body)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}
}
