package mdhtml

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHTML(t *testing.T) {
	t.Parallel()
	r := New()
	tests := []struct {
		name, src string
		has       []string
		hasNot    []string
	}{
		{"table", "| a | b |\n| --- | --- |\n| 1 | 2 |\n", []string{"<table>", "<td>1</td>"}, nil},
		{"task list", "- [x] done\n- [ ] open\n", []string{`checked=""`, "open"}, nil},
		{"raw html is not passed", "<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)>", []string{"hi"}, []string{"<script>", "<img"}},
		{"javascript links are dropped", "[x](javascript:alert(1))", nil, []string{"javascript:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := string(r.HTML(tt.src))
			for _, h := range tt.has {
				require.Contains(t, out, h)
			}
			for _, h := range tt.hasNot {
				require.NotContains(t, out, h)
			}
		})
	}
}
