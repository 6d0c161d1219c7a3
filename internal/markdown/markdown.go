package markdown

import "strings"

// Cell escapes s for one cell of a Markdown table.
func Cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// Tail keeps the last n bytes of s (never splitting a character), marking
// the cut, for log excerpts whose end matters most.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := len(s) - n
	for cut < len(s) && !runeStart(s[cut]) {
		cut++
	}
	return "… (earlier output in the full log)\n" + s[cut:]
}

// Cap keeps s within limit bytes: a longer s is cut (never inside a
// character) and ends with note, which says where the rest is.
func Cap(s string, limit int, note string) string {
	if len(s) <= limit {
		return s
	}
	cut := max(limit-len(note), 0)
	for cut > 0 && !runeStart(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

// OneLine folds s onto one line of at most n bytes (plus an ellipsis).
func OneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		cut := n
		for cut > 0 && !runeStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func runeStart(b byte) bool { return b&0xC0 != 0x80 }
