package handlers

import (
	"embed"
	"html/template"
	"strconv"
	"time"

	"github.com/specloop/specloop/internal/pagestyle"
)

// The pages' templates are compiled in, with the style sheet they share
// with the emulator's pages (pagestyle): no external assets, no front-end
// build.
//
//go:embed templates/*.html
var templateFiles embed.FS

var pageTemplates = template.Must(template.New("pages").Funcs(template.FuncMap{
	"short": func(sha string) string {
		if len(sha) > 12 {
			return sha[:12]
		}
		return sha
	},
	"ts": func(t any) string {
		switch v := t.(type) {
		case *time.Time:
			if v == nil {
				return "–"
			}
			return v.UTC().Format("2006-01-02 15:04:05 UTC")
		case time.Time:
			if v.IsZero() {
				return "–"
			}
			return v.UTC().Format("15:04:05.000")
		}
		return ""
	},
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"kib": func(n int) string {
		if n < 1024 {
			return itoa(n) + " B"
		}
		return itoa((n+512)/1024) + " KiB"
	},
	"css": func() template.CSS { return pagestyle.CSS("") },
}).ParseFS(templateFiles, "templates/*.html"))

func itoa(n int) string     { return strconv.Itoa(n) }
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
