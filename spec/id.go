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

// codeRe matches a task code at the start of an item: Spec Kit's "T001"
// and "CHK001", Kiro's and OpenSpec's "1." and "1.1". A bare "2024" is not
// one: numbers need a dot, letters need digits after them.
var codeRe = regexp.MustCompile(`^(?:([A-Z]{1,5}[0-9]{2,})|([0-9]+(?:\.[0-9]+)+)\.?|([0-9]+)\.)(?:[ \t]+|$)`)

// tagRe matches a bracketed tag like "[P]", "[US1]" or "[P1]": short,
// capital letters then digits, unlike an explicit id such as "[auth-1]".
var tagRe = regexp.MustCompile(`^\[([A-Z]{1,6}[0-9]{0,3})\](?:[ \t]+|$)`)

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
		if m := tagRe.FindStringSubmatchIndex(text); m != nil {
			it.tags = append(it.tags, text[m[2]:m[3]])
			text = text[m[1]:]
			continue
		}
		if it.id != "" {
			break
		}
		if m := codeRe.FindStringSubmatchIndex(text); m != nil {
			for g := 2; g < len(m); g += 2 {
				if m[g] >= 0 {
					it.id = text[m[g]:m[g+1]]
				}
			}
			text = text[m[1]:]
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
		if m := afterRe.FindStringSubmatchIndex(text); m != nil {
			it.after = splitIDs(text[m[2]:m[3]])
			text = text[:m[0]]
			it.hasAfter = true
		}
		if ms := dependsRe.FindAllStringSubmatchIndex(text, -1); ms != nil {
			for _, m := range ms {
				for _, id := range splitIDs(text[m[2]:m[3]]) {
					if !strings.EqualFold(id, "and") {
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
