package agent

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		output string
		want   *Usage
	}{
		{
			name:   "no usage",
			output: "Applied patch to login.go\nDone.\n",
			want:   nil,
		},
		{
			name: "codex exec --json, turns summed",
			output: `{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}` + "\n" +
				`{"type":"turn.started"}` + "\n" +
				`{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"usage is fine"}}` + "\n" +
				`{"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122}}` + "\n" +
				`{"type":"turn.started"}` + "\n" +
				`{"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":0,"output_tokens":78}}` + "\n",
			want: &Usage{Input: 25763, Cached: 24448, Output: 200, Total: 25963},
		},
		{
			name: "codex token_count events, last cumulative wins",
			output: `{"timestamp":"2025-10-17T05:54:10.209Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":20304,"cached_input_tokens":16896,"output_tokens":1183,"reasoning_output_tokens":832,"total_tokens":21487}},"rate_limits":null}}` + "\n" +
				`{"timestamp":"2025-10-17T05:54:20.209Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":26549,"cached_input_tokens":22272,"output_tokens":1590,"reasoning_output_tokens":1152,"total_tokens":28139},"last_token_usage":{"input_tokens":6245,"cached_input_tokens":5376,"output_tokens":407,"reasoning_output_tokens":320,"total_tokens":6652},"model_context_window":272000},"rate_limits":{"primary":null,"secondary":null}}}` + "\n",
			want: &Usage{Input: 26549, Cached: 22272, Output: 1590, Total: 28139},
		},
		{
			name:   "token_count without info is skipped",
			output: `{"type":"event_msg","payload":{"type":"token_count","info":null}}` + "\n",
			want:   nil,
		},
		{
			name:   "bare token_count with info",
			output: `{"type":"token_count","info":{"total_token_usage":{"input_tokens":10,"output_tokens":4,"total_tokens":14}}}` + "\n",
			want:   &Usage{Input: 10, Output: 4, Total: 14},
		},
		{
			name:   "older codex msg envelope with flat counts",
			output: `{"id":"1","msg":{"type":"token_count","input_tokens":900,"cached_input_tokens":100,"output_tokens":50,"reasoning_output_tokens":20,"total_tokens":950}}` + "\n",
			want:   &Usage{Input: 900, Cached: 100, Output: 50, Total: 950},
		},
		{
			name: "claude stream-json result",
			output: `{"type":"system","subtype":"init","session_id":"s1","tools":["Bash","Edit"]}` + "\n" +
				`{"type":"assistant","message":{"id":"msg_1","role":"assistant","content":[{"type":"text","text":"Done"}],"usage":{"input_tokens":4,"output_tokens":9}},"session_id":"s1"}` + "\n" +
				`{"type":"result","subtype":"success","is_error":false,"duration_ms":12345,"num_turns":6,"result":"Done","session_id":"s1","total_cost_usd":0.0421,"usage":{"input_tokens":12,"cache_creation_input_tokens":3000,"cache_read_input_tokens":45000,"output_tokens":850,"server_tool_use":{"web_search_requests":0},"service_tier":"standard"}}` + "\n",
			want: &Usage{Input: 48012, Cached: 45000, Output: 850, Total: 48862},
		},
		{
			name: "claude result beats codex turns",
			output: `{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}` + "\n" +
				`{"type":"result","usage":{"input_tokens":7,"output_tokens":3}}` + "\n",
			want: &Usage{Input: 7, Output: 3, Total: 10},
		},
		{
			name:   "mixed with text and CRLF, broken JSON ignored",
			output: "starting\r\n{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":5,\r\n  {\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}\r\nbye\r\n",
			want:   &Usage{Input: 5, Output: 2, Total: 7},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, ParseUsage([]byte(tt.output)))
		})
	}
}
