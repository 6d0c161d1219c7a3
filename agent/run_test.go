package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeRunner records the command it was given and answers with res.
type fakeRunner struct {
	got Command
	res Result
	err error
}

func (f *fakeRunner) Run(_ context.Context, cmd Command) (Result, error) {
	f.got = cmd
	return f.res, f.err
}

func TestRun(t *testing.T) {
	t.Parallel()
	secret := "whsec-0123456789"
	output := "thinking...\n" +
		"cloning https://x-access-token:ghs_abcdefghijklmnopqrstuvwxyz0123@github.com/o/r.git\n" +
		"webhook secret is " + secret + "\n" +
		`{"type":"turn.completed","usage":{"input_tokens":1200,"cached_input_tokens":200,"output_tokens":300}}` + "\n"
	fr := &fakeRunner{res: Result{ExitCode: 0, Output: []byte(output), Duration: 3 * time.Second}}

	out, err := Run(t.Context(), fr, "", Fixer, "the prompt", RunOptions{
		Dir:      "/work/copy",
		Env:      map[string]string{"OPENAI_API_KEY": "sk-test"},
		Network:  true,
		Timeout:  time.Minute,
		Redactor: NewRedactor(secret),
	})
	require.NoError(t, err)

	require.Equal(t, Command{
		Dir:     "/work/copy",
		Shell:   Presets[DefaultPreset].Command,
		Stdin:   []byte("the prompt"),
		Env:     map[string]string{"OPENAI_API_KEY": "sk-test", EnvRole: "fixer"},
		Network: true,
		Timeout: time.Minute,
	}, fr.got)

	require.Equal(t, Fixer, out.Role)
	require.True(t, out.Succeeded())
	require.Equal(t, 3*time.Second, out.Duration)
	require.Equal(t, &Usage{Input: 1200, Cached: 200, Output: 300, Total: 1500}, out.Tokens)
	log := string(out.Log)
	require.NotContains(t, log, "ghs_abc")
	require.NotContains(t, log, secret)
	require.Contains(t, log, "https://x-access-token:[REDACTED]@github.com/o/r.git")
	require.Contains(t, log, "webhook secret is [REDACTED]")
	require.False(t, out.Truncated)
}

func TestRunOutcomes(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 1000) + "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAxyz\n-----END RSA PRIVATE KEY-----" + strings.Repeat("z", 1000)
	tests := []struct {
		name    string
		res     Result
		logCap  int
		check   func(t *testing.T, o *Outcome)
		command string
	}{
		{
			name: "failure",
			res:  Result{ExitCode: 2, Output: []byte("error: no API key\n")},
			check: func(t *testing.T, o *Outcome) {
				require.False(t, o.Succeeded())
				require.Equal(t, 2, o.ExitCode)
				require.Nil(t, o.Tokens)
			},
		},
		{
			name: "timeout",
			res:  Result{ExitCode: 137, TimedOut: true},
			check: func(t *testing.T, o *Outcome) {
				require.False(t, o.Succeeded())
				require.True(t, o.TimedOut)
			},
		},
		{
			name: "cancelled",
			res:  Result{ExitCode: 143, Cancelled: true, Truncated: true},
			check: func(t *testing.T, o *Outcome) {
				require.True(t, o.Cancelled)
				require.True(t, o.Truncated)
			},
		},
		{
			name:   "capped after redaction",
			res:    Result{Output: []byte(long)},
			logCap: 200,
			check: func(t *testing.T, o *Outcome) {
				require.True(t, o.Truncated)
				require.Contains(t, string(o.Log), "bytes elided")
				require.NotContains(t, string(o.Log), "MIIE")
				require.LessOrEqual(t, len(o.Log), 260)
			},
		},
		{
			name:    "custom command",
			command: "claude -p --output-format stream-json",
			res:     Result{Output: []byte(`{"type":"result","subtype":"success","usage":{"input_tokens":10,"output_tokens":5}}`)},
			check: func(t *testing.T, o *Outcome) {
				require.Equal(t, &Usage{Input: 10, Output: 5, Total: 15}, o.Tokens)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fr := &fakeRunner{res: tt.res}
			o, err := Run(t.Context(), fr, tt.command, Implementer, "p", RunOptions{LogCap: tt.logCap})
			require.NoError(t, err)
			if tt.command != "" {
				require.Equal(t, tt.command, fr.got.Shell)
			}
			tt.check(t, o)
		})
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	_, err := Run(t.Context(), &fakeRunner{err: errors.New("bwrap: not found")}, "", Auditor, "p", RunOptions{})
	require.ErrorContains(t, err, "agent: running auditor: bwrap: not found")

	_, err = Run(t.Context(), &fakeRunner{}, "", Role("boss"), "p", RunOptions{})
	require.ErrorContains(t, err, `unknown role "boss"`)
}
