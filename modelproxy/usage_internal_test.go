package modelproxy

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUsageReader reads the usage of the APIs' answers as they stream by,
// in chunks that cut lines anywhere.
func TestUsageReader(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		sse  bool
		body string
		want usage
	}{
		{"gemini streamGenerateContent", true,
			"data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":100,\"candidatesTokenCount\":5},\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n" +
				"data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":100,\"cachedContentTokenCount\":40,\"candidatesTokenCount\":30,\"thoughtsTokenCount\":12},\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n",
			usage{model: "gemini-2.5-pro", input: 100, cached: 40, output: 42, seen: true}},
		{"chat completions stream (opencode, OpenAI-compatible providers)", true,
			"data: {\"model\":\"gpt-4.1\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n" +
				"data: {\"model\":\"gpt-4.1\",\"choices\":[],\"usage\":{\"prompt_tokens\":70,\"completion_tokens\":9,\"prompt_tokens_details\":{\"cached_tokens\":64}}}\n\ndata: [DONE]\n\n",
			usage{model: "gpt-4.1", input: 70, cached: 64, output: 9, seen: true}},
		{"responses stream", true,
			"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-5\",\"usage\":{\"input_tokens\":500,\"input_tokens_details\":{\"cached_tokens\":100},\"output_tokens\":20}}}\n\n",
			usage{model: "gpt-5", input: 500, cached: 100, output: 20, seen: true}},
		{"messages stream", true,
			"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-opus-4-1\",\"usage\":{\"input_tokens\":3,\"cache_read_input_tokens\":900,\"cache_creation_input_tokens\":100,\"output_tokens\":1}}}\n\n" +
				"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{},\"usage\":{\"output_tokens\":55}}\n\n",
			usage{model: "claude-opus-4-1", input: 1003, cached: 900, output: 55, seen: true}},
		{"messages plain", false,
			`{"id":"m","type":"message","model":"claude-haiku-4-5","usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":2}}`,
			usage{model: "claude-haiku-4-5", input: 15, cached: 5, output: 2, seen: true}},
		{"an error answer reports nothing", false, `{"error":{"message":"overloaded"}}`, usage{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &usageReader{sse: tc.sse}
			for b := []byte(tc.body); len(b) > 0; {
				n := min(7, len(b))
				r.Write(b[:n])
				b = b[n:]
			}
			require.Equal(t, tc.want, r.done())
		})
	}
}
