package spec

import (
	"bytes"
	"path"
	"regexp"
	"strings"

	gast "github.com/yuin/goldmark/ast"
)

// Format is the tool a task file comes from; it decides where the file is
// found and which documents beside it are context for the agent.
type Format string

const (
	FormatPlain    Format = "plain"    // specs/**/*.md holding a task list
	FormatSpecKit  Format = "spec-kit" // GitHub Spec Kit: specs/<feature>/tasks.md
	FormatKiro     Format = "kiro"     // Kiro: .kiro/specs/<feature>/tasks.md
	FormatOpenSpec Format = "openspec" // OpenSpec: openspec/changes/<change>/tasks.md
)

// FormatOf names the format of the task file at path, by where the tool
// keeps it; any other file is plain.
func FormatOf(p string) Format {
	seg := strings.Split(cleanPath(p), "/")
	switch {
	case len(seg) == 4 && seg[0] == ".kiro" && seg[1] == "specs" && seg[3] == "tasks.md":
		return FormatKiro
	case len(seg) == 4 && seg[0] == "openspec" && seg[1] == "changes" && seg[2] != "archive" && seg[3] == "tasks.md":
		return FormatOpenSpec
	case len(seg) == 3 && seg[0] == "specs" && seg[2] == "tasks.md":
		return FormatSpecKit
	}
	return FormatPlain
}

// specKitContext are the documents Spec Kit writes beside tasks.md; they
// are context for the agent, never specs.
var specKitContext = map[string]bool{
	"spec.md": true, "plan.md": true, "data-model.md": true, "research.md": true, "quickstart.md": true,
}

// Candidate reports whether discovery considers the file at path a task
// file, judging by its path alone: every format's tasks.md, and plain
// Markdown under specs/ that is neither a Spec Kit context document
// (spec.md, plan.md, …, checklists/, contracts/) nor a template. A plain
// candidate is a spec only if it holds a task list (see HasTaskList).
func Candidate(p string) bool {
	p = cleanPath(p)
	if FormatOf(p) != FormatPlain {
		return true
	}
	seg := strings.Split(p, "/")
	if !Match([]string{DefaultGlob}, p) || isTemplate(seg) {
		return false
	}
	for _, d := range seg[1 : len(seg)-1] {
		if d == "checklists" || d == "contracts" {
			return false
		}
	}
	return !(len(seg) == 3 && specKitContext[seg[2]])
}

// isTemplate reports paths of templates, which describe specs rather than
// hold work: a "templates" directory or a file named like "*-template.md".
func isTemplate(seg []string) bool {
	for _, s := range seg[:len(seg)-1] {
		if s == "templates" || s == "template" {
			return true
		}
	}
	base := strings.TrimSuffix(seg[len(seg)-1], ".md")
	return base == "template" || strings.HasSuffix(base, "-template") || strings.HasPrefix(base, "template-")
}

// taskLineRe finds a line that looks like a task item; HasTaskList uses it
// as a cheap filter before a full parse.
var taskLineRe = regexp.MustCompile(`(?m)^[ \t>]*(?:[-*+]|[0-9]{1,9}[.)])[ \t]+\[[^\]\n]\]\*?(?:[ \t\r]|$)`)

// HasTaskList reports whether src holds at least one task-list item, so
// discovery can leave prose under specs/ alone.
func HasTaskList(p string, src []byte) bool {
	loc := taskLineRe.FindIndex(src)
	if loc == nil {
		return false
	}
	// An item at the start of a line with no fence or comment above it is
	// a task whatever follows; only the doubtful cases pay for a parse.
	if c := src[loc[0]]; c == '-' || c == '*' || c == '+' || c >= '0' && c <= '9' {
		before := src[:loc[0]]
		if !bytes.Contains(before, []byte("```")) && !bytes.Contains(before, []byte("~~~")) && !bytes.Contains(before, []byte("<")) {
			return true
		}
	}
	s, _ := parse(p, src, false, "")
	for _, o := range s.Obligations {
		if o.Box >= 0 {
			return true
		}
	}
	return false
}

// ContextDocs lists the documents the agent is pointed at for a task file
// of format f at p, the ones exists reports present, in a fixed order:
// Spec Kit's spec.md, plan.md, … beside it and the constitution; Kiro's
// requirements.md, design.md or bugfix.md; OpenSpec's proposal.md,
// design.md, the change's specs/ and openspec/specs/. Directories are
// listed with a trailing "/".
func ContextDocs(p string, exists func(path string) bool) []string {
	p = cleanPath(p)
	dir := path.Dir(p)
	var want []string
	switch FormatOf(p) {
	case FormatSpecKit:
		for _, n := range []string{"spec.md", "plan.md", "data-model.md", "research.md", "quickstart.md", "contracts/"} {
			want = append(want, dir+"/"+n)
		}
		want = append(want, ".specify/memory/constitution.md")
	case FormatKiro:
		for _, n := range []string{"requirements.md", "bugfix.md", "design.md"} {
			want = append(want, dir+"/"+n)
		}
	case FormatOpenSpec:
		for _, n := range []string{"proposal.md", "design.md", "specs/"} {
			want = append(want, dir+"/"+n)
		}
		want = append(want, "openspec/specs/")
	}
	var out []string
	for _, w := range want {
		if exists(strings.TrimSuffix(w, "/")) {
			out = append(out, w)
		}
	}
	return out
}

// RequirementDocs are the documents whose text Requirements reads the
// criteria an item names from: Kiro's requirements.md (or bugfix.md),
// Spec Kit's spec.md.
func RequirementDocs(p string) []string {
	dir := path.Dir(cleanPath(p))
	switch FormatOf(p) {
	case FormatKiro:
		return []string{dir + "/requirements.md", dir + "/bugfix.md"}
	case FormatSpecKit:
		return []string{dir + "/spec.md"}
	}
	return nil
}

// requirementsRe matches Kiro's "_Requirements: 1.1, 2.3_" (also bold or
// plain, singular or plural).
var requirementsRe = regexp.MustCompile(`(?i)^[_*]*requirements?[_*]*:[_*]*\s*(.*?)[_*]*\s*$`)

// requirementRefs collects the ids of the criteria an item names.
func requirementRefs(text string, details []string) []string {
	var refs []string
	for _, l := range append([]string{text}, details...) {
		if !strings.Contains(l, "equirement") { // the regexp is dear; most lines name none
			continue
		}
		l = strings.TrimLeft(l, " \t-*+")
		if m := requirementsRe.FindStringSubmatch(l); m != nil {
			refs = append(refs, splitIDs(m[1])...)
		}
	}
	return refs
}

// Requirement is the text of one acceptance criterion an item names.
type Requirement struct {
	Ref  string // as the item names it: "1.2", "FR-001"
	Text string // the criterion's Markdown, "" when doc does not hold it
}

var (
	requirementHeadingRe = regexp.MustCompile(`(?i)^#{1,6}\s+requirement\s+([0-9]+)\b`)
	numberedRe           = regexp.MustCompile(`^\s*([0-9]+)[.)]\s+(.*)$`)
)

// Requirements finds the text of each ref in doc: "1.2" is the second
// numbered criterion under Kiro's "### Requirement 1" heading ("1" alone
// the whole section); anything else, such as Spec Kit's "FR-001", is the
// first line naming it.
func Requirements(doc []byte, refs []string) []Requirement {
	lines := strings.Split(strings.ReplaceAll(string(doc), "\r\n", "\n"), "\n")
	out := make([]Requirement, 0, len(refs))
	for _, ref := range refs {
		out = append(out, Requirement{Ref: ref, Text: findRequirement(lines, ref)})
	}
	return out
}

func findRequirement(lines []string, ref string) string {
	major, minor, numeric := strings.Cut(ref, ".")
	if minor == "*" { // Kiro's "2.*": all of requirement 2
		minor, numeric = "", false
	}
	if isDigits(major) && (!numeric || isDigits(minor)) {
		for i, l := range lines {
			m := requirementHeadingRe.FindStringSubmatch(l)
			if m == nil || m[1] != major {
				continue
			}
			var sec []string
			for _, l := range lines[i+1:] {
				if strings.HasPrefix(strings.TrimSpace(l), "#") && requirementHeadingRe.MatchString(l) || strings.HasPrefix(l, "## ") {
					break
				}
				sec = append(sec, l)
			}
			if minor == "" {
				return strings.TrimSpace(lines[i] + "\n" + strings.Join(sec, "\n"))
			}
			for _, l := range sec {
				if m := numberedRe.FindStringSubmatch(l); m != nil && m[1] == minor {
					return strings.TrimSpace(m[2])
				}
			}
			return ""
		}
		return ""
	}
	for _, l := range lines {
		if containsWord(l, ref) {
			l = strings.TrimSpace(l)
			for _, bullet := range []string{"- ", "* ", "+ "} {
				l = strings.TrimPrefix(l, bullet)
			}
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// containsWord reports whether w occurs in s not glued to other word
// characters, so "FR-001" does not find "FR-0010".
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(w)
		if (j == 0 || !wordByte(s[j-1])) && (end == len(s) || !wordByte(s[end])) {
			return true
		}
		i = j + 1
	}
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// details returns an item's own sub-bullets and continuation paragraphs as
// Markdown lines, indented by depth; nested task items are obligations of
// their own and are left out, with what they hold.
func details(src []byte, item gast.Node) []string {
	var out []string
	var walk func(n gast.Node, depth int)
	walk = func(n gast.Node, depth int) {
		pad := strings.Repeat("  ", depth)
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			if c == n.FirstChild() && n.Kind() == gast.KindListItem {
				continue // the item's own text
			}
			switch c.Kind() {
			case gast.KindList:
				for li := c.FirstChild(); li != nil; li = li.NextSibling() {
					f := li.FirstChild()
					if _, ok := itemBox(src, f); ok {
						continue
					}
					if f != nil && f.Lines().Len() > 0 {
						out = append(out, pad+"- "+blockText(src, f, 0))
					}
					walk(li, depth+1)
				}
			case gast.KindParagraph, gast.KindTextBlock:
				if c.Lines().Len() > 0 {
					out = append(out, pad+blockText(src, c, 0))
				}
			}
		}
	}
	walk(item, 0)
	return out
}

// nestByNumber makes "1.1" a child of "1." when Kiro writes them at the
// same indent: the numbering says what the indent does not.
func (s *Spec) nestByNumber() {
	for _, o := range s.Obligations {
		if o.Parent != "" {
			continue
		}
		i := strings.LastIndexByte(o.ID, '.')
		if i <= 0 || !isDigits(strings.ReplaceAll(o.ID, ".", "")) {
			continue
		}
		p := s.byID[o.ID[:i]]
		if p == nil || p == o || p.Line >= o.Line {
			continue
		}
		o.Parent = p.ID
		p.Children = append(p.Children, o.ID)
	}
}

// kiroSections narrows each item's section to its top-level task and what
// follows it up to the next one: a Kiro tasks.md is one long "Implementation
// Plan", and the whole of it would bury the task in the prompt.
func (s *Spec) kiroSections(src []byte, lines lineIndex) {
	root := func(o *Obligation) *Obligation {
		for o.Parent != "" && s.byID[o.Parent] != nil {
			o = s.byID[o.Parent]
		}
		return o
	}
	var roots []*Obligation
	for _, o := range s.Obligations {
		if o.Box >= 0 && o.Parent == "" {
			roots = append(roots, o)
		}
	}
	text := map[*Obligation]string{}
	for i, r := range roots {
		start := lines[r.Line-1]
		end := len(src)
		if i+1 < len(roots) {
			end = lines[roots[i+1].Line-1]
		}
		// A heading ends the task too.
		for off := start; off < end; {
			l, next := nextLine(src, off)
			if off > start && bytes.HasPrefix(bytes.TrimLeft(l, " "), []byte("#")) {
				end = off
				break
			}
			off = next
		}
		text[r] = strings.TrimRight(string(src[start:end]), " \t\r\n")
	}
	for _, o := range s.Obligations {
		if t, ok := text[root(o)]; ok {
			o.Section = t
		}
	}
}

// HasErrors reports whether list holds a problem that is not a warning.
func HasErrors(list []*Error) bool {
	for _, e := range list {
		if !e.Warning {
			return true
		}
	}
	return false
}
