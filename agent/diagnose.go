package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Failure is why an agent run failed, in the CLI's own words, and what to
// do about it.
type Failure struct {
	// Line is the CLI's own error line.
	Line string
	// Fix says what the operator or the repo should change; "" when the
	// log is all there is to go on.
	Fix string
}

// Diagnose reads why the run of p (nil: a plain command) failed from its
// output: a CLI that is missing, rejected its flags, is not logged in or
// reported an error on its JSON stream. It returns nil when the output
// shows no failure; exitCode is the run's.
func Diagnose(p *Preset, output []byte, exitCode int) *Failure {
	// A sandbox killed for its memory says so on its last line, after
	// whatever the CLI was printing when it died.
	if i := bytes.LastIndex(output, []byte(OOMPrefix)); i >= 0 && exitCode == 128+9 {
		line, _, _ := bytes.Cut(output[i:], []byte("\n"))
		return &Failure{Line: string(line), Fix: "the run needed more memory than its sandbox has: raise SANDBOX_MEMORY on the worker " +
			"(KUBE_SANDBOX_MEMORY with SANDBOX=kubernetes), or split the task so that it needs less."}
	}
	line, fromStream := errorLine(output)
	// Exit 0 fails only when the CLI's stream says its session failed
	// (Claude exits 0 when it is not logged in).
	if exitCode == 0 && !fromStream {
		return nil
	}
	cli, install := "the agent's CLI", "install it on the worker"
	if p != nil {
		cli = "the " + p.Binary + " CLI"
		install = "install it on the worker (" + installHint(p.Name) + ") and make sure SANDBOX_TOOLS, or its default, covers it; `specloop doctor` checks"
	}
	low := strings.ToLower(line)
	switch {
	case exitCode == 127 || strings.Contains(low, "command not found") || strings.HasSuffix(low, ": not found"):
		return &Failure{Line: line, Fix: cli + " is not found inside the sandbox: " + install + "."}
	case strings.Contains(low, "unexpected argument") || strings.Contains(low, "unknown option") ||
		strings.Contains(low, "unknown argument") || strings.Contains(low, "unrecognized option"):
		return &Failure{Line: line, Fix: cli + " rejected its flags: its release does not take the command in `agent.command` (the presets follow the current releases; drop `command:` to use the preset's, or install the release it was written for)."}
	case strings.Contains(low, "not logged in") || strings.Contains(low, "/login") || strings.Contains(low, "invalid api key") ||
		strings.Contains(low, "401") || strings.Contains(low, "unauthorized") || strings.Contains(low, "authentication"):
		fix := "the model API refused the credential: check the worker's key"
		if p != nil {
			fix += " (" + strings.Join(p.Credentials, " or ") + ")"
		}
		return &Failure{Line: line, Fix: fix + "; see docs/agents.md."}
	case line == "":
		return &Failure{Line: fmt.Sprintf("exited with %d and printed nothing", exitCode)}
	}
	return &Failure{Line: line}
}

// OOMPrefix begins the line the sandbox drivers end a run's output with
// when its memory cgroup killed it: "killed: out of memory at 4 GiB".
const OOMPrefix = "killed: out of memory at "

func installHint(preset string) string {
	switch preset {
	case "codex":
		return "npm install -g @openai/codex"
	case "claude":
		return "npm install -g @anthropic-ai/claude-code"
	case "gemini":
		return "npm install -g @google/gemini-cli"
	case "opencode":
		return "npm install -g opencode-ai"
	}
	return "see docs/agents.md"
}

// ErrorLine is the error an agent's output ends on: the last error event
// of its JSON stream (Codex's turn.failed or error, Claude's result with
// is_error, Gemini's result with status error), else the last line of
// plain output that reads as an error ("error: …", "fatal: …", "… not
// found"), else its last line of plain output. "" when there is none.
func ErrorLine(output []byte) string {
	line, _ := errorLine(output)
	return line
}

func errorLine(output []byte) (line string, fromStream bool) {
	var jsonErr, plain, last string
	for l := range bytes.Lines(output) {
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if l[0] == '{' {
			if msg := jsonError(l); msg != "" {
				jsonErr = msg
			}
			continue
		}
		last = string(l)
		low := strings.ToLower(string(l))
		if strings.HasPrefix(low, "error") || strings.HasPrefix(low, "fatal") || strings.Contains(low, "not found") ||
			strings.Contains(low, "cannot be used") || strings.Contains(low, "not logged in") || strings.Contains(low, "invalid api key") {
			plain = string(l)
		}
	}
	if jsonErr != "" {
		return jsonErr, true
	}
	if plain == "" {
		// Whatever the command said last is the best clue it left.
		plain = last
	}
	return plain, false
}

// jsonError reads an error event of an agent's JSON stream; transient
// ones (Codex's "Reconnecting...") are not the run's error.
func jsonError(line []byte) string {
	if !bytes.Contains(line, []byte("error")) && !bytes.Contains(line, []byte("failed")) {
		return ""
	}
	var ev struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		IsError bool   `json:"is_error"`
		Result  string `json:"result"`
		Status  string `json:"status"`
		Error   *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(line, &ev) != nil {
		return ""
	}
	switch {
	case ev.Type == "turn.failed" && ev.Error != nil:
		return ev.Error.Message
	case ev.Type == "error" && ev.Message != "" && !strings.HasPrefix(ev.Message, "Reconnecting"):
		return ev.Message
	case ev.Type == "result" && ev.IsError:
		if ev.Result != "" {
			return ev.Result
		}
		return "the agent's session ended in an error"
	case ev.Type == "result" && ev.Status == "error" && ev.Error != nil:
		return ev.Error.Message
	}
	return ""
}
