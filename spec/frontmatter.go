package spec

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// frontMatter is what a spec may set above its body.
type frontMatter struct {
	Title   string
	Verify  string
	Require string
	Paths   []string
	After   []string
	Plan    string // "approve": plan first and wait for a maintainer

	afterLine int // file line of the after: key, for unknown-id errors
}

var utf8BOM = []byte("\xef\xbb\xbf")

// splitFrontMatter finds YAML front matter delimited by "---" lines at the
// very top of src (after an optional byte-order mark) and returns its
// content, the 1-based file line of the first content line, and the offset
// where the Markdown body starts. found is false when src has no front
// matter; closed is false when the opening "---" has no closing line, in
// which case body is 0 so the caller can still parse the whole file.
func splitFrontMatter(src []byte) (content []byte, firstLine, body int, found, closed bool) {
	start := 0
	if bytes.HasPrefix(src, utf8BOM) {
		start = len(utf8BOM)
	}
	line, next := nextLine(src, start)
	if !isDelimiter(line, "---") || next == len(src) && !bytes.HasSuffix(src, []byte("\n")) {
		return nil, 0, 0, false, false
	}
	contentStart := next
	for pos := next; pos < len(src); {
		line, next := nextLine(src, pos)
		if isDelimiter(line, "---") || isDelimiter(line, "...") {
			return src[contentStart:pos], 2, next, true, true
		}
		pos = next
	}
	return nil, 0, 0, true, false
}

// nextLine returns the line starting at pos without its "\n" and the offset
// of the following line.
func nextLine(src []byte, pos int) ([]byte, int) {
	if i := bytes.IndexByte(src[pos:], '\n'); i >= 0 {
		return src[pos : pos+i], pos + i + 1
	}
	return src[pos:], len(src)
}

// isDelimiter allows trailing blanks and "\r" so CRLF files work.
func isDelimiter(line []byte, delim string) bool {
	return string(bytes.TrimRight(line, " \t\r")) == delim
}

var yamlLineRe = regexp.MustCompile(`line (\d+):`)

// parseFrontMatter decodes the front matter by hand from a yaml.Node rather
// than into a struct, so every problem gets the file line of its key and
// unknown keys are reported: a misspelt "after:" silently ignored would
// reorder work without anyone noticing.
func parseFrontMatter(specPath string, content []byte, firstLine int) (fm frontMatter, errs []*Error) {
	fail := func(line int, format string, args ...any) {
		errs = append(errs, &Error{Path: specPath, Line: line, Msg: "front matter: " + fmt.Sprintf(format, args...)})
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		line := 0
		if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		// yaml.v3 counts lines from the front matter's first line and
		// sometimes points at the start of the enclosing construct; the
		// message is about the YAML, so drop its own "line N:".
		msg := yamlLineRe.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "")
		fail(firstLine+max(line, 1)-1, "not valid YAML: %s", strings.TrimSpace(msg))
		return fm, errs
	}
	if len(doc.Content) == 0 {
		return fm, nil // empty front matter
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		fail(firstLine+root.Line-1, "want key: value pairs (verify, paths, after, title)")
		return fm, errs
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		line := firstLine + key.Line - 1
		switch key.Value {
		case "verify", "title":
			if val.Kind != yaml.ScalarNode {
				fail(line, "%s: want a string", key.Value)
				continue
			}
			if key.Value == "verify" {
				fm.Verify = val.Value
			} else {
				fm.Title = val.Value
			}
		case "require":
			if val.Kind != yaml.ScalarNode || val.Value != "red_green" {
				fail(line, "require: want red_green")
				continue
			}
			fm.Require = val.Value
		case "paths":
			list, ok := stringList(val, false)
			if !ok {
				fail(line, "paths: want a glob or a list of globs")
				continue
			}
			for _, p := range list {
				if !validPattern(p) {
					fail(line, "paths: bad glob %q", p)
				}
			}
			fm.Paths = list
		case "plan":
			if val.Kind != yaml.ScalarNode || val.Value != "approve" {
				fail(line, "plan: want approve")
				continue
			}
			fm.Plan = val.Value
		case "after":
			list, ok := stringList(val, true)
			if !ok {
				fail(line, "after: want an id or a list of ids")
				continue
			}
			fm.After, fm.afterLine = list, line
		default:
			// Spec Kit's description:, issue templates' name: and about:
			// belong to other tools: said, not refused.
			errs = append(errs, &Error{Path: specPath, Line: line, Warning: true,
				Msg: fmt.Sprintf("front matter: unknown key %q ignored (specloop reads verify, require, paths, after, title, plan)", key.Value)})
		}
	}
	return fm, errs
}

// stringList accepts a scalar or a sequence of scalars. With split, a scalar
// may hold several comma- or space-separated values ("after: a-1, a-2"),
// which is safe for ids but not for globs.
func stringList(n *yaml.Node, split bool) ([]string, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, true
		}
		if split {
			return splitIDs(n.Value), true
		}
		return []string{n.Value}, true
	case yaml.SequenceNode:
		var list []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, false
			}
			list = append(list, c.Value)
		}
		return list, true
	}
	return nil, false
}

func splitIDs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
}

// validPattern reports whether each segment of a glob is one path.Match
// accepts, so a bad "paths:" entry fails lint instead of matching nothing.
func validPattern(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if _, err := path.Match(seg, ""); err != nil {
			return false
		}
	}
	return p != ""
}
