package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// explicitIDRe matches "[auth-1] " at the start of an item's text. The
// whitespace after "]" keeps links ("[docs](url)") and reference
// definitions ("[x]: url") from being taken for ids.
var explicitIDRe = regexp.MustCompile(`^\[([A-Za-z0-9][A-Za-z0-9._-]{0,63})\](?:[ \t]+|$)`)

// afterRe matches a trailing "(after: a-1, a-2)" on an item.
var afterRe = regexp.MustCompile(`(?i)[ \t]*\(after:([^()]*)\)[ \t]*$`)

// matchCode matches a task code at the start of an item: Spec Kit's
// "T001" and "CHK001", Kiro's and OpenSpec's "1." and "1.1". A bare "2024"
// is not one: numbers need a dot, letters need two digits after them. It
// returns the code (without a trailing dot) and how many bytes it took,
// with the blanks after it; 0 when there is none. Written by hand: it runs
// on every item and a regexp was the costliest part of a parse.
func matchCode(s string) (code string, n int) {
	i := 0
	switch {
	case isUpper(s, 0):
		for i < len(s) && i < 6 && isUpper(s, i) {
			i++
		}
		if i > 5 {
			return "", 0
		}
		d := i
		for i < len(s) && isDigit(s, i) {
			i++
		}
		if i-d < 2 {
			return "", 0
		}
		code = s[:i]
	case isDigit(s, 0):
		dots := 0
		for i < len(s) && (isDigit(s, i) || s[i] == '.' && i+1 <= len(s)) {
			if s[i] == '.' {
				if s[i-1] == '.' {
					return "", 0
				}
				dots++
			}
			i++
		}
		code = strings.TrimSuffix(s[:i], ".")
		if dots == 0 || strings.Count(code, ".") == 0 && !strings.HasSuffix(s[:i], ".") {
			return "", 0
		}
		if strings.HasSuffix(s[:i], "..") {
			return "", 0
		}
	default:
		return "", 0
	}
	return code, afterBlank(s, i)
}

// matchTag matches "[P]", "[US1]" or "[P1]": one to six capitals, up to
// three digits, in brackets, then a blank or the end.
func matchTag(s string) (tag string, n int) {
	if len(s) < 3 || s[0] != '[' {
		return "", 0
	}
	i := 1
	for i < len(s) && isUpper(s, i) {
		i++
	}
	letters := i - 1
	for i < len(s) && isDigit(s, i) {
		i++
	}
	if letters < 1 || letters > 6 || i-1-letters > 3 || i >= len(s) || s[i] != ']' {
		return "", 0
	}
	return s[1:i], afterBlank(s, i+1)
}

// afterBlank returns the offset past the blanks at i, or 0 when s goes on
// with something else: a code or tag must stand alone.
func afterBlank(s string, i int) int {
	if i == len(s) {
		return i
	}
	if s[i] != ' ' && s[i] != '\t' {
		return 0
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// looksLikeID keeps the ids of a "(depends on T012 and T013 completion)"
// and drops its words: an id holds a digit.
func looksLikeID(w string) bool {
	w = strings.TrimRight(w, ".;:")
	return explicitIDRe.MatchString("["+w+"]") && strings.ContainsAny(w, "0123456789")
}

func isUpper(s string, i int) bool { return i < len(s) && s[i] >= 'A' && s[i] <= 'Z' }
func isDigit(s string, i int) bool { return i < len(s) && s[i] >= '0' && s[i] <= '9' }

// dependsRe matches Spec Kit's "(depends on T003)" anywhere in an item.
var dependsRe = regexp.MustCompile(`(?i)[ \t]*\(depends on:?([^()]*)\)`)

// item is an item's text taken apart.
type item struct {
	id, rest string
	tags     []string
	after    []string
	hasAfter bool
}

// splitItem takes an item's text apart: a leading task code or explicit
// "[id]" (a code wins, and bracketed tags around it stay tags), the
// "(after: …)" or "(depends on …)" ids, and the text that remains.
func splitItem(text string) item {
	var it item
	for {
		text = strings.TrimLeft(text, " \t")
		if text == "" || !(text[0] == '[' || text[0] >= '0' && text[0] <= '9' || text[0] >= 'A' && text[0] <= 'Z') {
			break // no code, tag or id can start here
		}
		if tag, n := matchTag(text); n > 0 {
			it.tags = append(it.tags, tag)
			text = text[n:]
			continue
		}
		if it.id != "" {
			break
		}
		if code, n := matchCode(text); n > 0 {
			it.id = code
			text = text[n:]
			continue
		}
		if len(it.tags) == 0 {
			if m := explicitIDRe.FindStringSubmatchIndex(text); m != nil {
				it.id = text[m[2]:m[3]]
				text = text[m[1]:]
				continue
			}
		}
		break
	}
	// Both clauses are in parentheses; most items have none, and the
	// regexps are the costliest part of a parse.
	if strings.IndexByte(text, '(') >= 0 {
		lower := strings.ToLower(text)
		if strings.Contains(lower, "(after:") {
			if m := afterRe.FindStringSubmatchIndex(text); m != nil {
				it.after = splitIDs(text[m[2]:m[3]])
				text = text[:m[0]]
				it.hasAfter = true
			}
		}
		if !strings.Contains(lower, "depends on") {
			// nothing more to find
		} else if ms := dependsRe.FindAllStringSubmatchIndex(text, -1); ms != nil {
			for _, m := range ms {
				for _, id := range splitIDs(text[m[2]:m[3]]) {
					if looksLikeID(id) {
						it.after = append(it.after, id)
					}
				}
			}
			it.hasAfter = true
			text = dependsRe.ReplaceAllString(text, "")
		}
	}
	it.rest = strings.TrimSpace(text)
	return it
}

// normalize reduces text to what identifies an item: case and spacing are
// not part of its meaning, so fixing them must not change the id.
func normalize(text string) string {
	return strings.Join(strings.Fields(strings.ToLower(text)), " ")
}

// cleanPath makes "./specs/a.md" and "specs\a.md" hash the same.
func cleanPath(p string) string {
	p = path.Clean(filepath.ToSlash(p))
	return strings.TrimPrefix(p, "./")
}

// derivedID names an item without an explicit id: a readable slug of its
// text plus a short hash of the spec path and the normalized text. Only
// those two inputs go in, so adding other items, moving headings or ticking
// the box leaves the id alone; rewording the item or renaming the file
// changes it, which is why long-lived specs should use explicit ids.
func derivedID(specPath, text string) string {
	norm := normalize(text)
	sum := sha256.Sum256([]byte(cleanPath(specPath) + "\n" + norm))
	return slug(norm, "item") + "-" + hex.EncodeToString(sum[:])[:6]
}

// fileID names the single obligation of a spec without a task list.
func fileID(specPath string) string {
	p := cleanPath(specPath)
	base := strings.TrimSuffix(path.Base(p), path.Ext(p))
	sum := sha256.Sum256([]byte(p))
	return slug(strings.ToLower(base), "spec") + "-" + hex.EncodeToString(sum[:])[:6]
}

// slug keeps the first few ASCII words of s, at most 24 bytes, so ids stay
// short enough for commit messages and branch names.
func slug(s, fallback string) string {
	const maxLen = 24
	var words []string
	n := 0
	for _, w := range strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		if n > 0 && n+1+len(w) > maxLen || len(words) == 4 {
			break
		}
		if len(w) > maxLen {
			w = w[:maxLen]
		}
		words = append(words, w)
		n += len(w) + 1
	}
	if len(words) == 0 {
		return fallback
	}
	return strings.Join(words, "-")
}
