package modelapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
)

var ids atomic.Int64

func newID(prefix string) string { return prefix + "_" + strconv.FormatInt(ids.Add(1), 10) }

// responsesRequest is what the stand-in reads of a Responses request.
type responsesRequest struct {
	Model  string            `json:"model"`
	Stream bool              `json:"stream"`
	Tools  []json.RawMessage `json:"tools"`
	Input  []struct {
		Type  string            `json:"type"`
		Tools []json.RawMessage `json:"tools"`
	} `json:"input"`
}

// hasTools reports whether the request offers the model any tool, in
// tools or (Codex) as an additional_tools input item.
func (q *responsesRequest) hasTools() bool {
	if len(q.Tools) > 0 {
		return true
	}
	for _, in := range q.Input {
		if in.Type == "additional_tools" && len(in.Tools) > 0 {
			return true
		}
	}
	return false
}

// functions are the names of the plain function tools the request offers.
func (q *responsesRequest) functions() map[string]bool {
	out := map[string]bool{}
	for _, raw := range q.Tools {
		var t struct{ Type, Name string }
		if json.Unmarshal(raw, &t) == nil && t.Type == "function" {
			out[t.Name] = true
		}
	}
	return out
}

// codeMode reports whether Codex offers its tools through the "exec"
// JavaScript tool (code mode) rather than as plain functions.
func (q *responsesRequest) codeMode() bool {
	raw, _ := json.Marshal(q)
	return json.Valid(raw) && containsExec(q)
}

func containsExec(q *responsesRequest) bool {
	var walk func(raw json.RawMessage) bool
	walk = func(raw json.RawMessage) bool {
		var t struct {
			Type  string            `json:"type"`
			Name  string            `json:"name"`
			Tools []json.RawMessage `json:"tools"`
		}
		if json.Unmarshal(raw, &t) != nil {
			return false
		}
		if t.Type == "custom" && t.Name == "exec" {
			return true
		}
		for _, c := range t.Tools {
			if walk(c) {
				return true
			}
		}
		return false
	}
	for _, t := range q.Tools {
		if walk(t) {
			return true
		}
	}
	for _, in := range q.Input {
		for _, t := range in.Tools {
			if walk(t) {
				return true
			}
		}
	}
	return false
}

func (s *Server) responses(w http.ResponseWriter, r *http.Request, body []byte) {
	var q responsesRequest
	if err := json.Unmarshal(body, &q); err != nil {
		s.record(r, body, Usage{})
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "model API stand-in: " + err.Error(), "type": "invalid_request_error"}})
		return
	}
	st := Step{Text: "ok"}
	if q.hasTools() {
		st = s.step(r)
	}
	u := usageOf(st)
	s.record(r, body, u)
	model := s.model(q.Model)
	respID := newID("resp")
	var item map[string]any
	code := q.codeMode()
	fns := q.functions()
	switch {
	case (st.Shell != "" || st.Write != nil) && fns["bash"]:
		// opencode (and other AI SDK agents): a bash function.
		cmd := st.Shell
		if st.Write != nil {
			cmd = heredoc(st.Write)
		}
		item = toolCall(false, "bash", map[string]any{"command": cmd, "description": "run a command"})
	case st.Shell != "" || st.Write != nil:
		cmd := st.Shell
		if st.Write != nil {
			cmd = heredoc(st.Write)
		}
		item = toolCall(code, "exec_command", map[string]any{"cmd": cmd})
	case st.Patch != "" && fns["apply_patch"]:
		item = toolCall(false, "apply_patch", map[string]any{"patchText": st.Patch})
	case st.Patch != "":
		item = toolCall(code, "apply_patch", st.Patch)
	default:
		text := structuredText(st)
		item = map[string]any{"type": "message", "id": newID("msg"), "role": "assistant", "status": "completed",
			"content": []any{map[string]any{"type": "output_text", "text": text, "annotations": []any{}}}}
	}
	resp := func(status string, output []any, usage any) map[string]any {
		return map[string]any{"id": respID, "object": "response", "created_at": 1700000000, "status": status, "model": model,
			"output": output, "usage": usage}
	}
	usage := map[string]any{"input_tokens": u.Input, "input_tokens_details": map[string]any{"cached_tokens": u.Cached},
		"output_tokens": u.Output, "output_tokens_details": map[string]any{"reasoning_tokens": 0}, "total_tokens": u.Input + u.Output}
	if !q.Stream {
		writeJSON(w, http.StatusOK, resp("completed", []any{item}, usage))
		return
	}
	e := newSSE(w)
	seq := 0
	ev := func(name string, data map[string]any) {
		data["type"], data["sequence_number"] = name, seq
		seq++
		e.event(name, data)
	}
	ev("response.created", map[string]any{"response": resp("in_progress", []any{}, nil)})
	added := map[string]any{}
	for k, v := range item {
		added[k] = v
	}
	ev("response.output_item.added", map[string]any{"output_index": 0, "item": added})
	if item["type"] == "message" {
		text := item["content"].([]any)[0].(map[string]any)["text"].(string)
		// The text in two deltas, as a stream would carry it.
		half := len(text) / 2
		for _, d := range []string{text[:half], text[half:]} {
			if d != "" {
				ev("response.output_text.delta", map[string]any{"item_id": item["id"], "output_index": 0, "content_index": 0, "delta": d})
			}
		}
		ev("response.output_text.done", map[string]any{"item_id": item["id"], "output_index": 0, "content_index": 0, "text": text})
	}
	ev("response.output_item.done", map[string]any{"output_index": 0, "item": item})
	ev("response.completed", map[string]any{"response": resp("completed", []any{item}, usage)})
}

// toolCall is the output item that asks for tool (exec_command or
// apply_patch) with args: in Codex's code mode, a call of its "exec"
// JavaScript tool that calls the nested tool; else a plain call.
func toolCall(codeMode bool, tool string, args any) map[string]any {
	callID := newID("call")
	if codeMode {
		a, _ := json.Marshal(args)
		js := fmt.Sprintf("const r = await tools.%s(%s);\ntext(r);\n", tool, a)
		return map[string]any{"type": "custom_tool_call", "id": newID("ctc"), "call_id": callID, "name": "exec", "input": js, "status": "completed"}
	}
	if s, ok := args.(string); ok {
		return map[string]any{"type": "custom_tool_call", "id": newID("ctc"), "call_id": callID, "name": tool, "input": s, "status": "completed"}
	}
	a, _ := json.Marshal(args)
	return map[string]any{"type": "function_call", "id": newID("fc"), "call_id": callID, "name": tool, "arguments": string(a), "status": "completed"}
}
