package spec

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/yuin/goldmark"
	gast "github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// DefaultGlob is where plain specs live: discovery (Candidate) takes the
// task lists under it besides the other formats' task files. A repo that
// wants only these writes specs: ["specs/**/*.md"].
const DefaultGlob = "specs/**/*.md"

// Spec is a parsed spec: a Markdown file or the body of a labelled issue.
type Spec struct {
	Path   string // repo-relative file path, or "issue-<n>"
	Title  string // front matter title, else the first heading, else the file name
	Verify string // front matter verify: command; empty means "use the repo's"
	// Require is the front matter's require: ("red_green": some test must
	// go from failing or absent to passing); empty means the repo's.
	Require string
	Paths   []string // front matter paths: globs the agent may write; empty means anywhere
	After   []string // front matter after: ids done before the rest of the spec
	Format  Format   // the tool that wrote it, from its path
	// Plan is the front matter's plan: "approve" has a first cycle plan
	// the work and wait for a maintainer's approval.
	Plan string

	// IncludeOptional makes Next pick optional items ("- [ ]*"), as the
	// repo config's include_optional: true asks; by default they are skipped.
	IncludeOptional bool

	// Warnings are problems that do not stop a cycle: front matter keys of
	// other tools, markers specloop does not know.
	Warnings []*Error

	// Obligations in document order; a parent comes before its children.
	Obligations []*Obligation

	src  []byte
	byID map[string]*Obligation
}

// Obligation is one unit of work: a task-list item, or the whole spec when
// it has no task list.
type Obligation struct {
	ID       string
	Text     string   // item text without checkbox, id and "(after: …)"
	Done     bool     // "- [x]" or "- [X]"
	Marker   byte     // the byte between the brackets as written: ' ', 'x', 'X', '-', ...
	Optional bool     // "- [ ]*": Kiro's optional task, skipped unless IncludeOptional
	Tags     []string // "[P]", "[US1]" after a task code, without brackets
	Details  []string // the item's own sub-bullets and paragraphs (not nested tasks), as Markdown lines
	// Requirements are the acceptance criteria the item names in
	// "_Requirements: 1.1, 2.3_", as written.
	Requirements []string
	Line         int      // 1-based line of the checkbox in the spec
	Headings     []string // headings it sits under, outermost first
	Section      string   // Markdown of the innermost heading's section, for prompts
	Parent       string   // id of the enclosing task item, "" at top level
	Children     []string // ids of the task items nested directly in it
	After        []string // ids named by its own "(after: …)" or "(depends on …)"

	// Box is the byte offset of the checkbox's "[" in the spec source, so
	// Tick can rewrite the one byte after it; -1 when there is no checkbox.
	Box int

	waits []*Obligation // everything that must be done first
}

// Parse parses the spec at path (used in ids and error messages) from src.
// All problems are reported together, one *Error per line of the returned
// error; use Lint to get them as a slice.
func Parse(path string, src []byte) (*Spec, error) {
	s, errs := parse(path, src, false, "")
	if HasErrors(errs) {
		return nil, joinErrors(errs)
	}
	return s, nil
}

// ParseIssue parses the body of a labelled issue as a spec. Its path is
// "issue-<n>", so derived ids stay stable across edits of the title, and
// the title names the single obligation of a body without a task list.
func ParseIssue(number int, title, body string) (*Spec, error) {
	s, errs := parse(IssuePath(number), []byte(body), true, title)
	if HasErrors(errs) {
		return nil, joinErrors(errs)
	}
	return s, nil
}

// IssuePath is the spec path of issue n's body: "issue-<n>".
func IssuePath(n int) string { return "issue-" + strconv.Itoa(n) }

// Lint returns every problem in the spec, errors and warnings, in line
// order; nil means it is good. Only errors (see HasErrors) make Parse fail.
func Lint(path string, src []byte) []*Error {
	_, errs := parse(path, src, false, "")
	return errs
}

// Obligation returns the obligation with the given id, or nil.
func (s *Spec) Obligation(id string) *Obligation { return s.byID[id] }

// markdown parses block structure only: specloop reads items, headings
// and their raw lines, so inline parsing (most of goldmark's time) is
// skipped. Nor does it use the task-list extension: that knows only "[ ]"
// and "[x]", and the tools specloop reads also write "[-]", "[ ]*" and
// markers of their own, which itemBox reads from the source.
var markdown = goldmark.New(goldmark.WithParser(parser.NewParser(
	parser.WithBlockParsers(parser.DefaultBlockParsers()...),
	parser.WithParagraphTransformers(parser.DefaultParagraphTransformers()...),
)))

type heading struct {
	level int
	text  string
	start int // offset of the heading's line
	end   int // offset where its section ends
}

// parse always returns a spec, even a broken one, so that Tick can work on
// a spec that fails lint for reasons unrelated to the box being ticked.
// For an issue, title names it and the id of its single obligation is its
// path.
func parse(specPath string, src []byte, issue bool, title string) (*Spec, []*Error) {
	s := &Spec{Path: specPath, src: src, byID: map[string]*Obligation{}}
	var errs []*Error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, &Error{Path: specPath, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	warn := func(line int, format string, args ...any) {
		errs = append(errs, &Error{Path: specPath, Line: line, Msg: fmt.Sprintf(format, args...), Warning: true})
	}
	s.Format = FormatOf(specPath)

	var fm frontMatter
	bodyStart := 0
	content, firstLine, body, found, closed := splitFrontMatter(src)
	switch {
	case found && !closed:
		fail(1, "front matter: no closing --- line")
	case found:
		var fmErrs []*Error
		fm, fmErrs = parseFrontMatter(specPath, content, firstLine)
		errs = append(errs, fmErrs...)
		bodyStart = body
	}
	s.Verify, s.Require, s.Paths, s.After, s.Plan = fm.Verify, fm.Require, fm.Paths, fm.After, fm.Plan

	lines := newLineIndex(src)
	bodySrc := src[bodyStart:]
	doc := markdown.Parser().Parse(text.NewReader(bodySrc))

	// Top-level headings and where their sections end: at the next heading
	// of the same or a higher level.
	var headings []*heading
	headingOf := map[gast.Node]*heading{}
	for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
		if h, ok := n.(*gast.Heading); ok {
			hd := &heading{
				level: h.Level,
				text:  blockText(bodySrc, h, 0),
				start: bodyStart + lineStart(bodySrc, max(h.Pos(), 0)),
				end:   len(src),
			}
			headings = append(headings, hd)
			headingOf[n] = hd
		}
	}
	for i, h := range headings {
		for _, next := range headings[i+1:] {
			if next.level <= h.level {
				h.end = next.start
				break
			}
		}
	}

	var (
		stack  []*heading                    // headings enclosing the current node
		byItem = map[gast.Node]*Obligation{} // list item → its obligation
		seen   = map[string]int{}            // derived id → items with that text
	)
	_ = gast.Walk(doc, func(n gast.Node, entering bool) (gast.WalkStatus, error) {
		if !entering {
			return gast.WalkContinue, nil
		}
		if h, ok := headingOf[n]; ok {
			for len(stack) > 0 && stack[len(stack)-1].level >= h.level {
				stack = stack[:len(stack)-1]
			}
			stack = append(stack, h)
			return gast.WalkSkipChildren, nil
		}
		item, ok := n.(*gast.ListItem)
		if !ok {
			return gast.WalkContinue, nil
		}
		block := item.FirstChild()
		b, ok := itemBox(bodySrc, block)
		if !ok {
			return gast.WalkContinue, nil
		}
		o := &Obligation{
			Done:     b.marker == 'x' || b.marker == 'X',
			Marker:   b.marker,
			Optional: b.optional,
			Box:      bodyStart + b.at,
			Line:     lines.line(bodyStart + b.at),
		}
		if !knownMarker(b.marker) {
			warn(o.Line, "unknown marker [%c]: read as open; use [ ], [x], [-] or [ ]*", b.marker)
		}
		it := splitItem(blockText(bodySrc, block, b.text))
		o.Text, o.After, o.Tags = it.rest, it.after, it.tags
		if it.hasAfter && len(it.after) == 0 {
			fail(o.Line, "empty (after: ) list")
		}
		if it.rest == "" {
			fail(o.Line, "task item has no text")
		}
		id := it.id
		if id == "" {
			id = derivedID(specPath, it.rest)
			if k := seen[id]; k > 0 {
				// Same text twice in one spec: number the repeats so both
				// remain addressable.
				seen[id] = k + 1
				id += "-" + strconv.Itoa(k+1)
			} else {
				seen[id] = 1
			}
		}
		o.Details = details(bodySrc, item)
		o.Requirements = requirementRefs(o.Text, o.Details)
		o.ID = id
		for _, h := range stack {
			o.Headings = append(o.Headings, h.text)
		}
		o.Section = section(src, bodyStart, stack, headings)
		for p := item.Parent(); p != nil; p = p.Parent() {
			if parent, ok := byItem[p]; ok {
				o.Parent = parent.ID
				parent.Children = append(parent.Children, o.ID)
				break
			}
		}
		byItem[item] = o
		if first, dup := s.byID[o.ID]; dup {
			fail(o.Line, "duplicate id %q (first at line %d)", o.ID, first.Line)
		} else {
			s.byID[o.ID] = o
		}
		s.Obligations = append(s.Obligations, o)
		return gast.WalkContinue, nil
	})

	switch {
	case issue && title != "":
		s.Title = title
	case fm.Title != "":
		s.Title = fm.Title
	case len(headings) > 0 && headings[0].text != "":
		s.Title = headings[0].text
	default:
		base := path.Base(cleanPath(specPath))
		s.Title = strings.TrimSuffix(base, path.Ext(base))
	}

	if len(s.Obligations) == 0 {
		// No task list: the whole spec is the one thing to do.
		id := fileID(specPath)
		if issue {
			id = specPath
		}
		o := &Obligation{
			ID:      id,
			Text:    s.Title,
			Line:    lines.line(bodyStart),
			Section: strings.TrimSpace(string(bodySrc)),
			Box:     -1,
		}
		s.Obligations = []*Obligation{o}
		s.byID[id] = o
	}

	s.nestByNumber()
	if s.Format == FormatKiro {
		s.kiroSections(src, lines)
	}
	errs = append(errs, s.link(fm.afterLine)...)
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	for _, e := range errs {
		if e.Warning {
			s.Warnings = append(s.Warnings, e)
		}
	}
	return s, errs
}

// box is a task item's checkbox as written.
type box struct {
	at       int  // offset of "[" in the body
	marker   byte // the byte between the brackets
	optional bool // "]*": Kiro's optional item
	text     int  // offset where the item's text starts
}

// itemBox reads the checkbox at the start of a list item's first block.
// GitHub wants a blank after "]" (Kiro's "*" may come between), and without
// it ticking can change the parse ("[ ]:0" is text, "[x]:0" a link
// reference definition), so such items are not obligations. Inside the
// brackets a space, a tab, x, X or a punctuation mark counts; a letter does
// not ("[a] b" is a link), nor a line break ("[\r]": ticking would eat it).
func itemBox(src []byte, block gast.Node) (box, bool) {
	if block == nil || block.Lines().Len() == 0 {
		return box{}, false
	}
	switch block.Kind() {
	case gast.KindParagraph, gast.KindTextBlock:
	default:
		return box{}, false
	}
	pos := block.Lines().At(0).Start
	if pos < 0 || pos+3 > len(src) || src[pos] != '[' || src[pos+2] != ']' {
		return box{}, false
	}
	c := src[pos+1]
	switch {
	case c == ' ', c == '\t', c == 'x', c == 'X':
	case c > ' ' && c < 0x7f && c != '[' && c != ']' && c != '\\' && !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'):
	default:
		return box{}, false
	}
	b := box{at: pos, marker: c, text: pos + 3}
	if b.text < len(src) && src[b.text] == '*' {
		b.optional, b.text = true, b.text+1
	}
	if b.text == len(src) {
		return b, true
	}
	switch src[b.text] {
	case ' ', '\t', '\r', '\n':
		return b, true
	}
	return box{}, false
}

// knownMarker reports whether specloop knows what the marker means.
func knownMarker(c byte) bool {
	switch c {
	case ' ', '\t', 'x', 'X', '-':
		return true
	}
	return false
}

// blockText returns the raw Markdown of a paragraph's lines, joined by
// spaces, starting at offset from in the first line (just past the
// checkbox). Raw source keeps `code` and links intact for prompts.
func blockText(src []byte, n gast.Node, from int) string {
	var parts []string
	lines := n.Lines()
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		start, stop := seg.Start, seg.Stop
		if i == 0 && from > start {
			start = min(from, stop)
		}
		if part := strings.TrimSpace(string(src[start:stop])); part != "" {
			parts = append(parts, part)
		}
	}
	return strings.Join(parts, " ")
}

// section returns the Markdown of the innermost enclosing heading's
// section, or of the part of the body before the first heading.
func section(src []byte, bodyStart int, stack, headings []*heading) string {
	start, end := bodyStart, len(src)
	if len(stack) > 0 {
		h := stack[len(stack)-1]
		start, end = h.start, h.end
	} else if len(headings) > 0 {
		end = headings[0].start
	}
	return strings.TrimRight(string(src[start:end]), " \t\r\n")
}

func lineStart(src []byte, pos int) int {
	pos = min(pos, len(src))
	return bytes.LastIndexByte(src[:pos], '\n') + 1
}

// lineIndex holds the offset of each line start, to turn offsets into
// 1-based line numbers.
type lineIndex []int

func newLineIndex(src []byte) lineIndex {
	idx := lineIndex{0}
	for i, b := range src {
		if b == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

func (idx lineIndex) line(off int) int {
	return sort.Search(len(idx), func(i int) bool { return idx[i] > off })
}
