package modelapi_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/emulator/modelapi"
)

// events reads an SSE stream as (event, data) pairs.
func events(t *testing.T, r io.Reader) [][2]string {
	t.Helper()
	var out [][2]string
	var name string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			out = append(out, [2]string{name, strings.TrimPrefix(line, "data: ")})
			name = ""
		}
	}
	return out
}

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestStandIn plays a script over the three APIs, the way the CLIs consume
// it: a tool call per step, the final message, the usage each answer
// reports; requests without tools leave the script alone.
func TestStandIn(t *testing.T) {
	t.Parallel()
	s := modelapi.New(
		modelapi.Step{Shell: "echo hi > a.txt", Usage: modelapi.Usage{Input: 10, Cached: 4, Output: 2}},
		modelapi.Step{Patch: "*** Begin Patch\n*** Add File: b.txt\n+b\n*** End Patch"},
		modelapi.Step{Structured: map[string]any{"verdict": "pass"}},
		modelapi.Step{Write: &modelapi.File{Path: "c.txt", Content: "c\n"}},
		modelapi.Step{Text: "done"},
	)
	url, err := s.Start()
	require.NoError(t, err)
	t.Cleanup(s.Close)

	// A side question without tools: answered, script untouched.
	resp := post(t, url+"/v1/messages", `{"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}`)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, 5, s.Remaining())

	// Responses, streamed, Codex's code mode: the shell command inside an
	// exec JavaScript call.
	codeMode := `{"model":"gpt-5","stream":true,"input":[{"type":"additional_tools","tools":[{"type":"namespace","name":"functions","tools":[{"type":"custom","name":"exec"}]}]}]}`
	evs := events(t, post(t, url+"/v1/responses", codeMode).Body)
	var names []string
	for _, e := range evs {
		names = append(names, e[0])
	}
	require.Equal(t, []string{"response.created", "response.output_item.added", "response.output_item.done", "response.completed"}, names)
	var done struct {
		Item struct{ Type, Name, Input string } `json:"item"`
	}
	require.NoError(t, json.Unmarshal([]byte(evs[2][1]), &done))
	require.Equal(t, "custom_tool_call", done.Item.Type)
	require.Equal(t, "exec", done.Item.Name)
	require.Contains(t, done.Item.Input, `await tools.exec_command({"cmd":"echo hi \u003e a.txt"})`)
	var completed struct {
		Response struct {
			Usage struct {
				InputTokens  int `json:"input_tokens"`
				OutputTokens int `json:"output_tokens"`
				Details      struct {
					Cached int `json:"cached_tokens"`
				} `json:"input_tokens_details"`
			} `json:"usage"`
		} `json:"response"`
	}
	require.NoError(t, json.Unmarshal([]byte(evs[3][1]), &completed))
	require.Equal(t, [3]int{10, 4, 2}, [3]int{completed.Response.Usage.InputTokens, completed.Response.Usage.Details.Cached, completed.Response.Usage.OutputTokens})

	// Responses with plain function tools: apply_patch as a custom call.
	var plain struct {
		Output []struct{ Type, Name, Input string } `json:"output"`
	}
	require.NoError(t, json.NewDecoder(post(t, url+"/v1/responses", `{"model":"gpt-5","tools":[{"type":"function","name":"shell"}]}`).Body).Decode(&plain))
	require.Equal(t, "apply_patch", plain.Output[0].Name)
	require.Contains(t, plain.Output[0].Input, "*** Add File: b.txt")

	// Messages, streamed: the structured verdict through Claude Code's
	// StructuredOutput tool.
	evs = events(t, post(t, url+"/v1/messages", `{"model":"claude-sonnet-4","stream":true,"tools":[{"name":"Bash"},{"name":"StructuredOutput"}]}`).Body)
	names = nil
	for _, e := range evs {
		names = append(names, e[0])
	}
	require.Equal(t, []string{"message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}, names)
	require.Contains(t, evs[1][1], `"name":"StructuredOutput"`)
	require.Contains(t, evs[2][1], `{\"verdict\":\"pass\"}`)

	// Gemini: Write as a write_file call.
	var gem struct {
		Candidates []struct {
			Content struct {
				Parts []struct {
					FunctionCall struct {
						Name string         `json:"name"`
						Args map[string]any `json:"args"`
					} `json:"functionCall"`
				} `json:"parts"`
			} `json:"content"`
		} `json:"candidates"`
	}
	require.NoError(t, json.NewDecoder(post(t, url+"/v1beta/models/gemini-2.5-pro:generateContent",
		`{"tools":[{"functionDeclarations":[{"name":"run_shell_command"},{"name":"write_file"}]}]}`).Body).Decode(&gem))
	call := gem.Candidates[0].Content.Parts[0].FunctionCall
	require.Equal(t, "write_file", call.Name)
	require.Equal(t, "c.txt", call.Args["file_path"])

	// Past the script's end the model says it is done.
	evs = events(t, post(t, url+"/v1/messages", `{"model":"claude-sonnet-4","stream":true,"tools":[{"name":"Bash"}]}`).Body)
	require.Contains(t, evs[2][1], `"text":"do`)
	require.Zero(t, s.Remaining())

	reported := s.Reported()
	require.Equal(t, 10+4*modelapi.DefaultUsage.Input+modelapi.DefaultUsage.Input, reported.Input, "every answer's usage, side questions included")
}
