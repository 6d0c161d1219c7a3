package handlers

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/jobs"
)

func TestParseCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		body  string
		want  Command
		ok    bool
		known bool // want.Known()
	}{
		{"next", "/loop next", Command{Name: "next", Args: []string{}}, true, true},
		{"leading blank lines", "\n\n  /loop status\nthanks", Command{Name: "status", Args: []string{}, Text: "thanks"}, true, true},
		{"bare is help", "/loop", Command{Name: "help"}, true, true},
		{"unknown kept", "/loop frobnicate now", Command{Name: "frobnicate", Args: []string{"now"}, Text: "now"}, true, false},
		{"case folded", "/loop NEXT", Command{Name: "next", Args: []string{}}, true, true},
		{"crlf", "/loop retry\r\nplease", Command{Name: "retry", Args: []string{}, Text: "please"}, true, true},
		{"text keeps lines and case", "/loop fix Rename `Foo`\n\nand  keep\n  its tests ", Command{Name: "fix", Args: []string{"Rename", "`Foo`"}, Text: "Rename `Foo`\n\nand  keep\n  its tests"}, true, true},
		{"not first line", "please run\n/loop next", Command{}, false, false},
		{"quoted ignored then command", "> /loop stop\n/loop next", Command{Name: "next", Args: []string{}}, true, true},
		{"answer", "/loop answer Blue.", Command{Name: "answer", Args: []string{"Blue."}, Text: "Blue."}, true, true},
		{"only quoted", "> /loop stop", Command{}, false, false},
		{"code block ignored", "```\n/loop stop\n```\n/loop status", Command{Name: "status", Args: []string{}}, true, true},
		{"tilde fence", "~~~\n/loop stop\n~~~", Command{}, false, false},
		{"indented code", "    /loop stop", Command{}, false, false},
		{"prefix not enough", "/looping next", Command{}, false, false},
		{"empty", "", Command{}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseCommand(tt.body)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.known, got.Known())
		})
	}
}

// TestParseRegisteredCommands: every command in the jobs registry parses to
// itself and is known, in every form a maintainer may type it.
func TestParseRegisteredCommands(t *testing.T) {
	t.Parallel()
	names := jobs.CommandNames()
	require.Equal(t, []string{"next", "retry", "stop", "fix", "answer", "plan", "approve", "token", "status", "help"}, names)
	for _, name := range names {
		tests := []struct {
			form, body string
			args       []string
			text       string
		}{
			{"plain", "/loop " + name, []string{}, ""},
			{"args", "/loop " + name + " a b", []string{"a", "b"}, "a b"},
			{"upper case", "/loop " + strings.ToUpper(name), []string{}, ""},
			{"after blank lines", "\n  \n/loop " + name + "\nthanks", []string{}, "thanks"},
			{"after a quote", "> /loop dance\n\n/loop " + name, []string{}, ""},
			{"after a code block", "```\n/loop dance\n```\n/loop " + name, []string{}, ""},
			{"crlf", "/loop " + name + "\r\nplease", []string{}, "please"},
		}
		for _, tt := range tests {
			t.Run(name+"/"+tt.form, func(t *testing.T) {
				t.Parallel()
				got, ok := ParseCommand(tt.body)
				require.True(t, ok)
				require.Equal(t, Command{Name: name, Args: tt.args, Text: tt.text}, got)
				require.True(t, got.Known())
			})
		}
		for _, tt := range []struct{ form, body string }{
			{"in a code block", "```\n/loop " + name + "\n```"},
			{"in a tilde fence", "~~~\n/loop " + name + "\n~~~"},
			{"quoted", "> /loop " + name},
			{"indented code", "    /loop " + name},
			{"not the first line", "please\n/loop " + name},
		} {
			t.Run(name+"/"+tt.form, func(t *testing.T) {
				t.Parallel()
				_, ok := ParseCommand(tt.body)
				require.False(t, ok, "%q", tt.body)
			})
		}
	}
}

func TestQuotedReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, quote, reply string
		ok                       bool
	}{
		{"quote reply", "> Which colour?\n\nBlue.", "Which colour?", "Blue.", true},
		{"nested quote", "> > Which colour?\n> specloop asks\n\nBlue.\nReally.", "Which colour?\nspecloop asks", "Blue.\nReally.", true},
		{"only a quote", "> Which colour?", "", "", false},
		{"no quote", "Blue.", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q, r, ok := QuotedReply(tt.body)
			require.Equal(t, tt.ok, ok)
			if ok {
				require.Equal(t, tt.quote, q)
				require.Equal(t, tt.reply, r)
			}
		})
	}
}
