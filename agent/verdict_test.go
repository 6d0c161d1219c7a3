package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadVerdict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content *string // nil: no file
		want    *Verdict
		wantErr string
	}{
		{
			name:    "pass",
			content: ptr(`{"verdict":"pass","summary":" Looks right. ","findings":[]}`),
			want:    &Verdict{Verdict: "pass", Summary: "Looks right.", Findings: []Finding{}},
		},
		{
			name: "fail with findings, normalised",
			content: ptr(`{"verdict":"FAIL","summary":"Missing test","findings":[
				{"file":"./internal/auth/login.go","line":12,"message":"no test for the error path","severity":"Warning"},
				{"file":"README.md","message":"not updated"}]}`),
			want: &Verdict{Verdict: "fail", Summary: "Missing test", Findings: []Finding{
				{File: "internal/auth/login.go", Line: 12, Message: "no test for the error path", Severity: "warning"},
				{File: "README.md", Message: "not updated", Severity: "failure"},
			}},
		},
		{
			name:    "no file",
			wantErr: "auditor wrote no verdict to .specloop/audit.json",
		},
		{
			name:    "empty file",
			content: ptr("  \n"),
			wantErr: "auditor wrote an empty verdict to .specloop/audit.json",
		},
		{
			name:    "not JSON",
			content: ptr("LGTM!"),
			wantErr: "auditor's verdict in .specloop/audit.json is not valid JSON: invalid character 'L'",
		},
		{
			name:    "trailing garbage",
			content: ptr(`{"verdict":"pass"} and more`),
			wantErr: "is not valid JSON",
		},
		{
			name:    "unknown verdict",
			content: ptr(`{"verdict":"maybe"}`),
			wantErr: `auditor's verdict in .specloop/audit.json: verdict "maybe" is not pass or fail`,
		},
		{
			name:    "no verdict",
			content: ptr(`{"summary":"hm"}`),
			wantErr: "auditor's verdict in .specloop/audit.json: no verdict field (want pass or fail)",
		},
		{
			name:    "finding without file",
			content: ptr(`{"verdict":"fail","findings":[{"line":3,"message":"bad"}]}`),
			wantErr: "auditor's verdict in .specloop/audit.json: finding 1 has no file",
		},
		{
			name:    "finding without message",
			content: ptr(`{"verdict":"fail","findings":[{"file":"a.go","message":"ok"},{"file":"b.go","line":3}]}`),
			wantErr: "auditor's verdict in .specloop/audit.json: finding 2 (b.go) has no message",
		},
		{
			name:    "finding outside the repo",
			content: ptr(`{"verdict":"fail","findings":[{"file":"../../etc/passwd","message":"x"}]}`),
			wantErr: `finding 1: file "../../etc/passwd" is not a path inside the repository`,
		},
		{
			name:    "bad severity",
			content: ptr(`{"verdict":"fail","findings":[{"file":"a.go","message":"x","severity":"fatal"}]}`),
			wantErr: `finding 1 (a.go): severity "fatal" is not failure, warning or notice`,
		},
		{
			name:    "negative line",
			content: ptr(`{"verdict":"fail","findings":[{"file":"a.go","line":-1,"message":"x"}]}`),
			wantErr: "finding 1 (a.go): line -1 is negative",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if tt.content != nil {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, ".specloop"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, ".specloop", "audit.json"), []byte(*tt.content), 0o644))
			}
			v, err := ReadVerdict(dir, ".specloop/audit.json")
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Nil(t, v)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, v)
			require.Equal(t, tt.want.Verdict == VerdictPass, v.Passed())
		})
	}
}

func TestReadVerdictRefusesEscapes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := ReadVerdict(dir, "../audit.json")
	require.ErrorContains(t, err, "audit file ../audit.json is outside the working copy")
	_, err = ReadVerdict(dir, "/etc/passwd")
	require.ErrorContains(t, err, "outside the working copy")

	outside := filepath.Join(t.TempDir(), "secret.json")
	require.NoError(t, os.WriteFile(outside, []byte(`{"verdict":"pass"}`), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "audit.json")))
	_, err = ReadVerdict(dir, "audit.json")
	require.ErrorContains(t, err, "auditor's verdict audit.json is not a regular file")
}

func TestReadVerdictDefaultFile(t *testing.T) {
	t.Parallel()
	_, err := ReadVerdict(t.TempDir(), "")
	require.EqualError(t, err, "auditor wrote no verdict to .specloop/audit.json")
}

func ptr[T any](v T) *T { return &v }
