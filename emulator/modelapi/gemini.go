package modelapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// geminiRequest is what the stand-in reads of a generateContent request.
type geminiRequest struct {
	Tools []struct {
		FunctionDeclarations []struct {
			Name string `json:"name"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	GenerationConfig struct {
		ResponseMimeType   string          `json:"responseMimeType"`
		ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
		ResponseSchema     json.RawMessage `json:"responseSchema"`
	} `json:"generationConfig"`
}

func (q *geminiRequest) function(names ...string) string {
	for _, t := range q.Tools {
		for _, f := range t.FunctionDeclarations {
			for _, n := range names {
				if f.Name == n {
					return n
				}
			}
		}
	}
	return ""
}

func (q *geminiRequest) hasTools() bool {
	for _, t := range q.Tools {
		if len(t.FunctionDeclarations) > 0 {
			return true
		}
	}
	return false
}

// gemini answers POST /v1beta/models/{model}:generateContent and
// :streamGenerateContent (alt=sse), and :countTokens.
func (s *Server) gemini(w http.ResponseWriter, r *http.Request, body []byte) {
	rest := strings.TrimPrefix(r.URL.Path, "/v1beta/models/")
	model, method, _ := strings.Cut(rest, ":")
	var q geminiRequest
	if err := json.Unmarshal(body, &q); err != nil {
		s.record(r, body, Usage{})
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"code": 400, "message": "model API stand-in: " + err.Error(), "status": "INVALID_ARGUMENT"}})
		return
	}
	if method == "countTokens" {
		s.record(r, body, Usage{})
		writeJSON(w, http.StatusOK, map[string]any{"totalTokens": 1000})
		return
	}
	st := Step{Text: "ok"}
	if q.hasTools() {
		st = s.step(r)
	}
	u := usageOf(st)
	s.record(r, body, u)
	var part map[string]any
	switch {
	case q.GenerationConfig.ResponseMimeType == "application/json" && !q.hasTools():
		// The CLI's own side questions (model routing, next speaker):
		// a valid instance of the schema it asked for.
		schema := q.GenerationConfig.ResponseJSONSchema
		if len(schema) == 0 {
			schema = q.GenerationConfig.ResponseSchema
		}
		b, _ := json.Marshal(instance(schema))
		part = map[string]any{"text": string(b)}
	case st.Shell != "" || st.Patch != "" || (st.Write != nil && q.function("write_file") == ""):
		cmd := st.Shell
		switch {
		case st.Patch != "":
			cmd = "git apply <<'SPECLOOP_EOF'\n" + st.Patch + "\nSPECLOOP_EOF"
		case st.Write != nil:
			cmd = heredoc(st.Write)
		}
		part = map[string]any{"functionCall": map[string]any{"name": "run_shell_command", "args": map[string]any{"command": cmd, "description": "run a command"}}}
	case st.Write != nil:
		part = map[string]any{"functionCall": map[string]any{"name": "write_file", "args": map[string]any{"file_path": st.Write.Path, "content": st.Write.Content}}}
	default:
		part = map[string]any{"text": structuredText(st)}
	}
	resp := map[string]any{
		"candidates": []any{map[string]any{"content": map[string]any{"role": "model", "parts": []any{part}}, "finishReason": "STOP", "index": 0}},
		"usageMetadata": map[string]any{"promptTokenCount": u.Input, "cachedContentTokenCount": u.Cached, "candidatesTokenCount": u.Output,
			"totalTokenCount": u.Input + u.Output},
		"modelVersion": s.model(model),
	}
	if method != "streamGenerateContent" {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	e := newSSE(w)
	b, _ := json.Marshal(resp)
	_, _ = e.w.Write([]byte("data: " + string(b) + "\r\n\r\n"))
	if e.f != nil {
		e.f.Flush()
	}
}

// instance is a minimal value that satisfies a JSON (or Gemini OpenAPI)
// schema: required properties filled, enums their first value, numbers in
// the middle of a 1-100 scale.
func instance(raw json.RawMessage) any {
	var sc struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Items      json.RawMessage            `json:"items"`
		Enum       []any                      `json:"enum"`
	}
	if json.Unmarshal(raw, &sc) != nil {
		return map[string]any{}
	}
	if len(sc.Enum) > 0 {
		return sc.Enum[0]
	}
	switch strings.ToLower(sc.Type) {
	case "object", "":
		out := map[string]any{}
		for k, v := range sc.Properties {
			out[k] = instance(v)
		}
		return out
	case "array":
		return []any{}
	case "integer", "number":
		return 50
	case "boolean":
		return false
	default:
		return "the model API stand-in"
	}
}
