package modelapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// messagesRequest is what the stand-in reads of a Messages request.
type messagesRequest struct {
	Model  string `json:"model"`
	Stream bool   `json:"stream"`
	Tools  []struct {
		Name string `json:"name"`
	} `json:"tools"`
}

func (q *messagesRequest) tool(name string) string {
	for _, t := range q.Tools {
		if t.Name == name {
			return t.Name
		}
	}
	return ""
}

// structuredTool is the tool Claude Code offers for --json-schema output.
func (q *messagesRequest) structuredTool() string {
	for _, t := range q.Tools {
		if strings.Contains(strings.ToLower(t.Name), "structured") {
			return t.Name
		}
	}
	return ""
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request, body []byte) {
	var q messagesRequest
	if err := json.Unmarshal(body, &q); err != nil {
		s.record(r, body, Usage{})
		writeJSON(w, http.StatusBadRequest, map[string]any{"type": "error", "error": map[string]any{"type": "invalid_request_error", "message": "model API stand-in: " + err.Error()}})
		return
	}
	st := Step{Text: "ok"}
	if len(q.Tools) > 0 {
		st = s.step(r)
	}
	u := usageOf(st)
	s.record(r, body, u)
	model := s.model(q.Model)

	var block map[string]any
	stop := "tool_use"
	switch {
	case st.Shell != "" || st.Patch != "":
		cmd := st.Shell
		if st.Patch != "" {
			cmd = "git apply <<'SPECLOOP_EOF'\n" + st.Patch + "\nSPECLOOP_EOF"
		}
		block = map[string]any{"type": "tool_use", "id": newID("toolu"), "name": "Bash", "input": map[string]any{"command": cmd, "description": "run a command"}}
	case st.Write != nil && q.tool("Write") != "":
		block = map[string]any{"type": "tool_use", "id": newID("toolu"), "name": "Write", "input": map[string]any{"file_path": st.Write.Path, "content": st.Write.Content}}
	case st.Write != nil:
		block = map[string]any{"type": "tool_use", "id": newID("toolu"), "name": "Bash", "input": map[string]any{"command": heredoc(st.Write), "description": "write a file"}}
	case st.Structured != nil && st.Text == "" && q.structuredTool() != "":
		block = map[string]any{"type": "tool_use", "id": newID("toolu"), "name": q.structuredTool(), "input": st.Structured}
	default:
		block = map[string]any{"type": "text", "text": structuredText(st)}
		stop = "end_turn"
	}
	// Anthropic counts cache reads apart from input_tokens.
	usage := map[string]any{"input_tokens": u.Input - u.Cached, "cache_read_input_tokens": u.Cached, "cache_creation_input_tokens": 0, "output_tokens": u.Output}
	msgID := newID("msg")
	if !q.Stream {
		writeJSON(w, http.StatusOK, map[string]any{"id": msgID, "type": "message", "role": "assistant", "model": model,
			"content": []any{block}, "stop_reason": stop, "stop_sequence": nil, "usage": usage})
		return
	}
	e := newSSE(w)
	startUsage := map[string]any{"input_tokens": u.Input - u.Cached, "cache_read_input_tokens": u.Cached, "cache_creation_input_tokens": 0, "output_tokens": 1}
	e.event("message_start", map[string]any{"type": "message_start", "message": map[string]any{"id": msgID, "type": "message", "role": "assistant",
		"model": model, "content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": startUsage}})
	switch block["type"] {
	case "text":
		text := block["text"].(string)
		e.event("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
		half := len(text) / 2
		for _, d := range []string{text[:half], text[half:]} {
			if d != "" {
				e.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": d}})
			}
		}
	default:
		in, _ := json.Marshal(block["input"])
		e.event("content_block_start", map[string]any{"type": "content_block_start", "index": 0,
			"content_block": map[string]any{"type": "tool_use", "id": block["id"], "name": block["name"], "input": map[string]any{}}})
		e.event("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "input_json_delta", "partial_json": string(in)}})
	}
	e.event("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	e.event("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": u.Output}})
	e.event("message_stop", map[string]any{"type": "message_stop"})
}
