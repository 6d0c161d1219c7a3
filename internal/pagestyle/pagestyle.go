// Package pagestyle holds the stylesheet that specloop's run pages and the
// emulator's browser view share: colours for light and dark, cards, badges,
// tables and diffs, so both read alike and neither loads an external asset.
package pagestyle

import (
	_ "embed"
	"html/template"
)

//go:embed base.css
var base string

// CSS is the shared stylesheet followed by extra, a page's own rules.
func CSS(extra string) template.CSS {
	return template.CSS(base + extra) // our own embedded files, never user input
}
