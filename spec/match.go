package spec

import (
	"path"
	"strings"
)

// Match reports whether name, a slash-separated repo-relative path, matches
// any of the glob patterns. Segments match as in path.Match; a "**" segment
// matches any number of segments, including none, so "specs/**/*.md"
// matches both "specs/a.md" and "specs/auth/login.md". Bad patterns match
// nothing.
func Match(patterns []string, name string) bool {
	segs := strings.Split(cleanPath(name), "/")
	for _, p := range patterns {
		if matchSegments(strings.Split(cleanPath(p), "/"), segs) {
			return true
		}
	}
	return false
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for len(pat) > 0 && pat[0] == "**" {
				pat = pat[1:] // "**/**" is one "**"; this also bounds the work
			}
			if len(pat) == 0 {
				return true
			}
			for i := range name {
				if matchSegments(pat, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
