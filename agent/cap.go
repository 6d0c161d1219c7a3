package agent

import (
	"fmt"
	"unicode/utf8"
)

// Cap returns b cut down to about max bytes, keeping its head and its tail
// with a "[… N bytes elided …]" line between them, and whether it cut. The
// head shows how a command started, the tail how it ended, which is where
// tools print their failures and summaries. Cuts fall on UTF-8 boundaries.
// A max of zero or less means no cap.
func Cap(b []byte, max int) (out []byte, truncated bool) {
	if max <= 0 || len(b) <= max {
		return b, false
	}
	head := validUTF8Prefix(string(b[:max/2]))
	tail := validUTF8Suffix(string(b[len(b)-(max-max/2):]))
	elided := len(b) - len(head) - len(tail)
	out = make([]byte, 0, max+64)
	out = append(out, head...)
	out = fmt.Appendf(out, "\n[… %d bytes elided …]\n", elided)
	out = append(out, tail...)
	return out, true
}

// validUTF8Prefix drops a trailing partial rune left by a byte cut.
func validUTF8Prefix(s string) string {
	for i := 0; i < utf8.UTFMax && len(s) > 0; i++ {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// validUTF8Suffix drops a leading partial rune left by a byte cut.
func validUTF8Suffix(s string) string {
	for i := 0; i < utf8.UTFMax && len(s) > 0; i++ {
		r, size := utf8.DecodeRuneInString(s)
		if r != utf8.RuneError || size != 1 {
			break
		}
		s = s[1:]
	}
	return s
}
