package modelproxy

import (
	"bytes"
	"encoding/json"
)

// usage is what one response reported.
type usage struct {
	model                 string
	input, cached, output int
	seen                  bool
}

// usageReader reads the usage out of a response as it streams by: line by
// line for Server-Sent Events, the whole body (up to a cap) for JSON.
type usageReader struct {
	sse     bool
	partial []byte // an SSE line not yet ended
	body    bytes.Buffer
	u       usage
}

// maxJSONBody bounds how much of a plain JSON response is kept to read its
// usage; a larger one is forwarded but not counted.
const maxJSONBody = 8 << 20

func (r *usageReader) Write(p []byte) {
	if !r.sse {
		if r.body.Len()+len(p) <= maxJSONBody {
			r.body.Write(p)
		}
		return
	}
	data := append(r.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		r.line(data[:i])
		data = data[i+1:]
	}
	r.partial = append(r.partial[:0], data...)
}

func (r *usageReader) done() usage {
	if r.sse {
		if len(r.partial) > 0 {
			r.line(r.partial)
		}
	} else {
		r.event(r.body.Bytes())
	}
	return r.u
}

func (r *usageReader) line(l []byte) {
	l = bytes.TrimSpace(l)
	if d, ok := bytes.CutPrefix(l, []byte("data:")); ok {
		r.event(bytes.TrimSpace(d))
	}
}

// apiEvent is the union of the usage-bearing shapes of the APIs.
type apiEvent struct {
	Type     string    `json:"type"`
	Model    string    `json:"model"`
	Usage    *apiUsage `json:"usage"`
	Response *struct {
		Model string    `json:"model"`
		Usage *apiUsage `json:"usage"`
	} `json:"response"`
	Message *struct {
		Model string    `json:"model"`
		Usage *apiUsage `json:"usage"`
	} `json:"message"`
	UsageMetadata *struct {
		Prompt     int `json:"promptTokenCount"`
		Cached     int `json:"cachedContentTokenCount"`
		Candidates int `json:"candidatesTokenCount"`
		Thoughts   int `json:"thoughtsTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
}

type apiUsage struct {
	// OpenAI Responses, Anthropic.
	InputTokens  *int `json:"input_tokens"`
	OutputTokens *int `json:"output_tokens"`
	InputDetails *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	// Anthropic: not part of input_tokens.
	CacheRead     int `json:"cache_read_input_tokens"`
	CacheCreation int `json:"cache_creation_input_tokens"`
	// OpenAI Chat Completions.
	PromptTokens     *int `json:"prompt_tokens"`
	CompletionTokens *int `json:"completion_tokens"`
	PromptDetails    *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func (r *usageReader) event(b []byte) {
	if len(b) < 2 || b[0] != '{' {
		return
	}
	if !bytes.Contains(b, []byte("sage")) && !bytes.Contains(b, []byte(`"model`)) {
		return
	}
	var ev apiEvent
	if json.Unmarshal(b, &ev) != nil {
		return
	}
	setModel := func(m string) {
		if m != "" {
			r.u.model = m
		}
	}
	setModel(ev.Model)
	setModel(ev.ModelVersion)
	switch {
	case ev.Response != nil:
		// OpenAI Responses: response.completed carries the whole turn.
		setModel(ev.Response.Model)
		if u := ev.Response.Usage; u != nil && u.InputTokens != nil {
			r.u.input, r.u.output, r.u.cached, r.u.seen = *u.InputTokens, deref(u.OutputTokens), 0, true
			if u.InputDetails != nil {
				r.u.cached = u.InputDetails.CachedTokens
			}
		}
	case ev.Message != nil:
		// Anthropic message_start: the input, and output so far.
		setModel(ev.Message.Model)
		if u := ev.Message.Usage; u != nil {
			r.anthropic(u)
		}
	case ev.UsageMetadata != nil:
		// Gemini: every chunk carries the running totals.
		m := ev.UsageMetadata
		r.u.input, r.u.cached, r.u.output, r.u.seen = m.Prompt, m.Cached, m.Candidates+m.Thoughts, true
	case ev.Usage != nil:
		u := ev.Usage
		switch {
		case u.PromptTokens != nil:
			r.u.input, r.u.output, r.u.seen = *u.PromptTokens, deref(u.CompletionTokens), true
			if u.PromptDetails != nil {
				r.u.cached = u.PromptDetails.CachedTokens
			}
		case ev.Type == "message_delta":
			// Anthropic: output_tokens is cumulative; input may be restated.
			if u.OutputTokens != nil {
				r.u.output, r.u.seen = *u.OutputTokens, true
			}
			if u.InputTokens != nil && *u.InputTokens > 0 {
				r.anthropic(u)
			}
		default:
			// A non-streaming Messages or Responses body.
			if bytes.Contains(b, []byte(`"cache_read_input_tokens"`)) || ev.Type == "message" {
				r.anthropic(u)
			} else if u.InputTokens != nil {
				r.u.input, r.u.output, r.u.seen = *u.InputTokens, deref(u.OutputTokens), true
				if u.InputDetails != nil {
					r.u.cached = u.InputDetails.CachedTokens
				}
			}
		}
	}
}

// anthropic reads an Anthropic usage object, whose input_tokens leaves out
// the tokens read from and written to the prompt cache.
func (r *usageReader) anthropic(u *apiUsage) {
	r.u.input = deref(u.InputTokens) + u.CacheRead + u.CacheCreation
	r.u.cached = u.CacheRead
	if u.OutputTokens != nil {
		r.u.output = *u.OutputTokens
	}
	r.u.seen = true
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
