package mdhtml

import (
	"bytes"
	"html/template"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// Renderer turns Markdown into safe HTML; it is safe for concurrent use.
type Renderer struct {
	md goldmark.Markdown
}

// New returns a Renderer for GitHub-flavoured Markdown (tables, task
// lists, strikethrough, autolinks), without raw HTML.
func New() *Renderer {
	return &Renderer{md: goldmark.New(goldmark.WithExtensions(extension.GFM))}
}

// HTML renders src. goldmark without html.WithUnsafe replaces raw HTML
// and javascript: links, so the result may be trusted as template.HTML.
func (r *Renderer) HTML(src string) template.HTML {
	var b bytes.Buffer
	if err := r.md.Convert([]byte(src), &b); err != nil {
		return template.HTML(template.HTMLEscapeString(src)) // never for in-memory input; show the text rather than nothing
	}
	return template.HTML(b.String())
}
