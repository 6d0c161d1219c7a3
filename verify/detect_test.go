package verify

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDetectVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"go", map[string]string{"go.mod": "module x\n"}, DetectedGo},
		{"go wins over node", map[string]string{"go.mod": "module x\n", "package.json": `{"scripts":{"test":"jest"}}`}, DetectedGo},
		{"rust", map[string]string{"Cargo.toml": "[package]\n"}, "cargo test"},
		{"node", map[string]string{"package.json": `{"scripts":{"test":"node --test"}}`}, "npm test"},
		{"node placeholder test", map[string]string{"package.json": `{"scripts":{"test":"echo \"Error: no test specified\" && exit 1"}}`}, ""},
		{"node without test", map[string]string{"package.json": `{"scripts":{"build":"tsc"}}`}, ""},
		{"node bad json", map[string]string{"package.json": `{`}, ""},
		{"node without test, python", map[string]string{"package.json": `{}`, "pyproject.toml": ""}, DetectedPytest},
		{"pytest.ini", map[string]string{"pytest.ini": "[pytest]\n"}, DetectedPytest},
		{"setup.py", map[string]string{"setup.py": ""}, DetectedPytest},
		{"nothing", map[string]string{"README.md": "hi"}, ""},
		{"go.mod directory is not go.mod", map[string]string{"go.mod/x": ""}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
			}
			require.Equal(t, tt.want, Detect(dir))
		})
	}
}
