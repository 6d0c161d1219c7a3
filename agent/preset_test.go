package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Output shaped as the CLIs' sources emit it: Gemini CLI's stream-json
// (packages/cli nonInteractive: init, message deltas, tool_use,
// tool_result, result with stats) and opencode's run --format json
// (step_start, text, tool_use, step_finish with tokens and cost).
const (
	geminiStream = `{"type":"init","timestamp":"2026-11-30T10:00:00.000Z","session_id":"s1","model":"gemini-2.5-pro"}
{"type":"message","timestamp":"2026-11-30T10:00:00.100Z","role":"user","content":"Write hello.txt"}
{"type":"message","timestamp":"2026-11-30T10:00:01.000Z","role":"assistant","content":"I will write ","delta":true}
{"type":"tool_use","timestamp":"2026-11-30T10:00:01.200Z","tool_name":"write_file","tool_id":"t1","parameters":{"file_path":"hello.txt","content":"hello"}}
{"type":"tool_result","timestamp":"2026-11-30T10:00:01.300Z","tool_id":"t1","status":"success","output":"ok"}
{"type":"message","timestamp":"2026-11-30T10:00:02.000Z","role":"assistant","content":"Done: ","delta":true}
{"type":"message","timestamp":"2026-11-30T10:00:02.100Z","role":"assistant","content":"hello.txt written.","delta":true}
{"type":"result","timestamp":"2026-11-30T10:00:02.200Z","status":"success","stats":{"total_tokens":13070,"input_tokens":12500,"output_tokens":570,"cached":8000,"input":4500,"duration_ms":2200,"tool_calls":1}}
`
	opencodeStream = `{"type":"step_start","timestamp":1764496800000,"sessionID":"ses_1","part":{"id":"prt_1","sessionID":"ses_1","messageID":"msg_1","type":"step-start"}}
{"type":"tool_use","timestamp":1764496801000,"sessionID":"ses_1","part":{"type":"tool","tool":"write","state":{"status":"completed","input":{"filePath":"hello.txt"},"output":""}}}
{"type":"step_finish","timestamp":1764496802000,"sessionID":"ses_1","part":{"type":"step-finish","reason":"tool-calls","cost":0.0123,"tokens":{"input":9000,"output":300,"reasoning":50,"cache":{"read":7000,"write":100}}}}
{"type":"text","timestamp":1764496803000,"sessionID":"ses_1","part":{"type":"text","text":"hello.txt written."}}
{"type":"step_finish","timestamp":1764496804000,"sessionID":"ses_1","part":{"type":"step-finish","reason":"stop","cost":0.0020,"tokens":{"input":500,"output":40,"reasoning":0,"cache":{"read":9000,"write":0}}}}
`
)

func TestParseUsageGeminiAndOpencode(t *testing.T) {
	t.Parallel()
	require.Equal(t, &Usage{Input: 12500, Cached: 8000, Output: 570, Total: 13070}, ParseUsage([]byte(geminiStream)))
	require.Equal(t, &Usage{Input: 9100 + 7000 + 500 + 9000, Cached: 16000, Output: 390, Total: 25600 + 390}, ParseUsage([]byte(opencodeStream)))
	require.InDelta(t, 0.0143, ReportedCost([]byte(opencodeStream)), 1e-9, "opencode's per-step cost is summed")
	require.Equal(t, "Done: hello.txt written.", FinalMessage([]byte(geminiStream)), "the assistant's deltas after the last tool use")
	require.Equal(t, "hello.txt written.", FinalMessage([]byte(opencodeStream)))

	claude := `{"type":"result","subtype":"success","is_error":false,"result":"ok","total_cost_usd":0.25,"usage":{"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":5}}` + "\n"
	require.InDelta(t, 0.25, ReportedCost([]byte(claude)), 1e-9)
	// A Claude that never reached its model still prints a result with
	// zeros: that is "not reported", not 0 in, 0 out.
	notLoggedIn := `{"type":"result","subtype":"success","is_error":true,"result":"Not logged in · Please run /login","total_cost_usd":0,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}` + "\n"
	require.Nil(t, ParseUsage([]byte(notLoggedIn)))
	require.Nil(t, ParseUsage([]byte(`{"type":"turn.completed","usage":{"input_tokens":0,"cached_input_tokens":0,"output_tokens":0}}`+"\n")))
}

func TestVerdictChannels(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".specloop"), 0o755))
	fileVerdict := `{"verdict":"fail","summary":"from the file","findings":[{"file":"a.go","line":3,"message":"bad"}]}`
	cases := []struct {
		name, output, file string
		verdict, channel   string
		err                string
	}{
		{"claude --json-schema", `{"type":"result","subtype":"success","result":"","structured_output":{"verdict":"pass","summary":"structured","findings":[]}}` + "\n", fileVerdict,
			"pass", "structured output", ""},
		{"codex --output-schema", `{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"{\"verdict\":\"pass\",\"summary\":\"codex\",\"findings\":[]}"}}` + "\n", "",
			"pass", "structured output", ""},
		{"fenced JSON in the final message", `{"type":"result","result":"Looks fine.\n\n` + "```json" + `\n{\"verdict\": \"pass\", \"summary\": \"fenced\", \"findings\": []}\n` + "```" + `\n"}` + "\n", "",
			"pass", "final message", ""},
		{"the audit file", "plain output\n", fileVerdict, "fail", ".specloop/audit.json", ""},
		{"nothing anywhere", "plain output\n", "", "", "",
			"auditor gave no verdict: not in the CLI's structured output, not as a fenced JSON block in its final message, not in .specloop/audit.json"},
		{"a structured verdict that is wrong", `{"type":"result","structured_output":{"verdict":"maybe"}}` + "\n", "", "", "",
			`verdict "maybe" is not pass or fail`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(dir, tc.name)
			require.NoError(t, os.MkdirAll(filepath.Join(d, ".specloop"), 0o755))
			if tc.file != "" {
				require.NoError(t, os.WriteFile(filepath.Join(d, DefaultAuditFile), []byte(tc.file), 0o644))
			}
			v, ch, err := VerdictFrom([]byte(tc.output), d, DefaultAuditFile)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.verdict, v.Verdict)
			require.Equal(t, tc.channel, ch)
		})
	}
}

func TestDiagnose(t *testing.T) {
	t.Parallel()
	codex, claude := Presets["codex"], Presets["claude"]
	cases := []struct {
		name   string
		p      *Preset
		output string
		exit   int
		line   string
		fix    string
	}{
		{"removed flag", &codex, "error: unexpected argument '--full-auto' found\n\n  tip: to pass '--full-auto' as a value, use '-- --full-auto'\n\nUsage: codex exec [OPTIONS] [PROMPT]\n", 2,
			"error: unexpected argument '--full-auto' found", "the codex CLI rejected its flags"},
		{"not installed", &codex, "/bin/sh: 1: codex: not found\n", 127, "/bin/sh: 1: codex: not found", "the codex CLI is not found inside the sandbox"},
		{"not logged in, exit 0", &claude, `{"type":"result","subtype":"success","is_error":true,"result":"Not logged in · Please run /login"}` + "\n", 0,
			"Not logged in · Please run /login", "the model API refused the credential: check the worker's key (ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN)"},
		{"turn failed", &codex, `{"type":"error","message":"Reconnecting... 1/5"}` + "\n" + `{"type":"turn.failed","error":{"message":"unexpected status 400 Bad Request: budget"}}` + "\n", 1,
			"unexpected status 400 Bad Request: budget", ""},
		{"a plain command's last words", nil, "working\ncannot do this: no compiler\n", 3, "cannot do this: no compiler", ""},
		{"out of memory", &codex, `{"type":"item.started","item":{"type":"command_execution","command":"go test ./..."}}` + "\n\nkilled: out of memory at 4 GiB\n", 137,
			"killed: out of memory at 4 GiB", "raise SANDBOX_MEMORY on the worker"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := Diagnose(tc.p, []byte(tc.output), tc.exit)
			require.NotNil(t, f)
			require.Equal(t, tc.line, f.Line)
			require.Contains(t, f.Fix, tc.fix)
		})
	}
	require.Nil(t, Diagnose(&codex, []byte(`{"type":"turn.completed","usage":{}}`+"\nsome error text\n"), 0), "exit 0 with a clean stream is no failure")
}
