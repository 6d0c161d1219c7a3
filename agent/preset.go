package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultPreset is the agent a repo gets when its config names none.
const DefaultPreset = "codex"

// Preset is one agent CLI as specloop drives it: the command for its
// current release, the credentials it reads, how its usage and its final
// message are read, and the channel its verdict comes through. Each is
// checked by tests that run the real CLI against the model-API stand-in
// (cmd/specloop), or where the CLI cannot run there, by parser tests on the
// output its sources emit.
type Preset struct {
	Name string
	// Binary is the CLI's executable, found on the worker's PATH.
	Binary string
	// Command is run in the sandbox for the implementer and the fixer,
	// with the prompt on stdin.
	Command string
	// AuditFlags are appended to Command for the auditor: the CLI's
	// structured-output option, given the verdict schema's path inside the
	// sandbox. Empty when the CLI has none.
	AuditFlags func(schemaPath string) string
	// Credentials are the worker variables holding the model API key, in
	// the order they are tried.
	Credentials []string
	// BaseEnv names the worker variable that overrides the model API base;
	// DefaultBase is the vendor's.
	BaseEnv, DefaultBase string
	// Auth is how the proxy hands the real credential upstream.
	Auth AuthStyle
	// SandboxEnv is what the CLI is given inside the sandbox: base is the
	// proxy's loopback URL (the API root, as BaseEnv takes it), key the
	// per-cycle placeholder.
	SandboxEnv func(base, key string) map[string]string
	// Setup writes the CLI's configuration into the sandbox home before a
	// run (nil: nothing to write).
	Setup func(home, base string) error
}

// AuthStyle is how an API takes its key.
type AuthStyle int

// Auth styles.
const (
	// AuthBearer: Authorization: Bearer KEY (OpenAI, most others).
	AuthBearer AuthStyle = iota
	// AuthAnthropic: x-api-key: KEY, or Authorization: Bearer for an
	// OAuth token (CLAUDE_CODE_OAUTH_TOKEN).
	AuthAnthropic
	// AuthGoogle: x-goog-api-key: KEY.
	AuthGoogle
)

// Presets are the agents specloop knows by name.
var Presets = map[string]Preset{
	"codex": {
		Name:   "codex",
		Binary: "codex",
		// specloop is the sandbox: Codex's own needs nested user
		// namespaces, which bwrap forbids; --full-auto is gone upstream.
		Command:     "codex exec --json --dangerously-bypass-approvals-and-sandbox -",
		AuditFlags:  func(schema string) string { return "--output-schema " + schema },
		Credentials: []string{"CODEX_API_KEY", "OPENAI_API_KEY"},
		BaseEnv:     "OPENAI_BASE_URL", DefaultBase: "https://api.openai.com/v1",
		Auth: AuthBearer,
		SandboxEnv: func(base, key string) map[string]string {
			// OPENAI_API_KEY too, for other CLIs of the OpenAI API run with
			// this preset's proxy (agent: {preset: codex, command: ...}).
			return map[string]string{"CODEX_API_KEY": key, "OPENAI_API_KEY": key, "OPENAI_BASE_URL": base}
		},
		Setup: codexSetup,
	},
	"claude": {
		Name:    "claude",
		Binary:  "claude",
		Command: "claude -p --output-format stream-json --verbose --permission-mode bypassPermissions",
		AuditFlags: func(schema string) string {
			return `--json-schema "$(cat ` + schema + `)"`
		},
		Credentials: []string{"ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"},
		BaseEnv:     "ANTHROPIC_BASE_URL", DefaultBase: "https://api.anthropic.com",
		Auth: AuthAnthropic,
		SandboxEnv: func(base, key string) map[string]string {
			return map[string]string{"ANTHROPIC_API_KEY": key, "ANTHROPIC_BASE_URL": base,
				// Nothing but the model API: no update checks, telemetry
				// or error reports, which the sandbox would refuse anyway.
				"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "IS_SANDBOX": "1"}
		},
	},
	"gemini": {
		Name:        "gemini",
		Binary:      "gemini",
		Command:     "gemini --yolo -o stream-json",
		Credentials: []string{"GEMINI_API_KEY"},
		BaseEnv:     "GEMINI_API_BASE", DefaultBase: "https://generativelanguage.googleapis.com",
		Auth: AuthGoogle,
		SandboxEnv: func(base, key string) map[string]string {
			return map[string]string{"GEMINI_API_KEY": key, "GOOGLE_GEMINI_BASE_URL": base, "GEMINI_CLI_NO_RELAUNCH": "true"}
		},
		Setup: geminiSetup,
	},
	"opencode": {
		Name:        "opencode",
		Binary:      "opencode",
		Command:     "opencode run --format json",
		Credentials: []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY"},
		BaseEnv:     "OPENAI_BASE_URL", DefaultBase: "https://api.openai.com/v1",
		Auth: AuthBearer,
		SandboxEnv: func(base, key string) map[string]string {
			// Nothing of the network but the model API: no model catalog
			// (models.dev), no LSP downloads, no updates, no sharing.
			return map[string]string{"OPENAI_API_KEY": key, "OPENAI_BASE_URL": base,
				"OPENCODE_DISABLE_MODELS_FETCH": "true", "OPENCODE_DISABLE_LSP_DOWNLOAD": "true",
				"OPENCODE_DISABLE_AUTOUPDATE": "true", "OPENCODE_DISABLE_SHARE": "true"}
		},
		Setup: opencodeSetup,
	},
}

// CommandOf is the command a config's agent runs: command when it names
// one, else the preset's.
func CommandOf(preset, command string) string {
	if command == "" {
		return Presets[preset].Command
	}
	return command
}

// PresetNames lists the presets in name order.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Credential returns the first of p's credentials set in the worker's
// environment, and its name.
func (p Preset) Credential(getenv func(string) string) (name, value string) {
	for _, n := range p.Credentials {
		if v := getenv(n); v != "" {
			return n, v
		}
	}
	return "", ""
}

// APIBase is where p's model API is: the worker's BaseEnv, else the
// vendor's.
func (p Preset) APIBase(getenv func(string) string) string {
	if v := getenv(p.BaseEnv); v != "" {
		return strings.TrimRight(v, "/")
	}
	return p.DefaultBase
}

// codexSetup points Codex at the proxy through a model provider of its
// own: current releases ignore OPENAI_BASE_URL, and their built-in OpenAI
// provider tries a WebSocket first (retrying five times before it falls
// back to HTTP), which supports_websockets = false skips. No update check.
func codexSetup(home, base string) error {
	dir := filepath.Join(home, ".codex")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("codex setup: %w", err)
	}
	conf := fmt.Sprintf(`model_provider = "specloop"
check_for_update_on_startup = false

[model_providers.specloop]
name = "OpenAI through the specloop model proxy"
base_url = %q
env_key = "CODEX_API_KEY"
wire_api = "responses"
supports_websockets = false
`, base)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("codex setup: %w", err)
	}
	return nil
}

// geminiSetup selects API-key auth (else Gemini CLI stops at "Invalid auth
// method selected") and turns folder trust off (else --yolo is overridden
// to asking, and nobody answers), updates and telemetry off.
func geminiSetup(home, _ string) error {
	dir := filepath.Join(home, ".gemini")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gemini setup: %w", err)
	}
	conf := `{"security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
 "general": {"disableAutoUpdate": true}, "privacy": {"usageStatisticsEnabled": false}, "telemetry": {"enabled": false}}
`
	if err := os.WriteFile(filepath.Join(dir, "settings.json"), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("gemini setup: %w", err)
	}
	return nil
}

// opencodeSetup points opencode's openai provider at the proxy (it reads
// its base URL from config, not from OPENAI_BASE_URL), with the model it
// uses unless the repo's own opencode.json says otherwise, and no
// autoupdate or sharing; every permission allowed, since specloop is the
// sandbox (run auto-rejects what it would ask about, such as a path
// outside the project).
func opencodeSetup(home, base string) error {
	dir := filepath.Join(home, ".config", "opencode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("opencode setup: %w", err)
	}
	conf := fmt.Sprintf(`{"$schema": "https://opencode.ai/config.json", "model": "openai/gpt-5", "autoupdate": false, "share": "disabled",
 "permission": {"edit": "allow", "bash": "allow", "webfetch": "allow", "external_directory": "allow", "doom_loop": "allow"},
 "provider": {"openai": {"options": {"baseURL": %q, "apiKey": "{env:OPENAI_API_KEY}"}}}}
`, base)
	if err := os.WriteFile(filepath.Join(dir, "opencode.json"), []byte(conf), 0o644); err != nil {
		return fmt.Errorf("opencode setup: %w", err)
	}
	return nil
}

// VerdictSchema is the JSON Schema of a Verdict, given to CLIs that can
// hold their final answer to one (Codex --output-schema, Claude
// --json-schema). Strict-mode schemas need every property required and no
// others allowed.
const VerdictSchema = `{"type":"object","additionalProperties":false,"required":["verdict","summary","findings"],` +
	`"properties":{"verdict":{"type":"string","enum":["pass","fail"]},"summary":{"type":"string"},` +
	`"findings":{"type":"array","items":{"type":"object","additionalProperties":false,` +
	`"required":["file","line","message","severity"],"properties":{"file":{"type":"string"},` +
	`"line":{"type":"integer"},"message":{"type":"string"},` +
	`"severity":{"type":"string","enum":["failure","warning","notice"]}}}}}}`

// StructuredVerdict returns the verdict a CLI gave through its structured
// output on stdout, if any: Claude's result.structured_output, or Codex's
// final agent message, which --output-schema makes the verdict JSON.
func StructuredVerdict(output []byte) ([]byte, bool) {
	var found []byte
	for line := range bytes.Lines(output) {
		line = bytes.TrimSpace(line)
		if len(line) < 2 || line[0] != '{' {
			continue
		}
		if !bytes.Contains(line, []byte(`"structured_output"`)) && !bytes.Contains(line, []byte(`"agent_message"`)) {
			continue
		}
		var ev struct {
			Type             string          `json:"type"`
			StructuredOutput json.RawMessage `json:"structured_output"`
			Item             *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"item"`
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "result" && len(ev.StructuredOutput) > 0 && string(ev.StructuredOutput) != "null":
			found = ev.StructuredOutput
		case ev.Type == "item.completed" && ev.Item != nil && ev.Item.Type == "agent_message":
			if t := bytes.TrimSpace([]byte(ev.Item.Text)); len(t) > 0 && t[0] == '{' && json.Valid(t) {
				found = t
			}
		}
	}
	return found, found != nil
}

// FinalMessage returns the agent's last message as its JSON stream carries
// it (Claude's result, Codex's last agent_message, Gemini's assistant
// messages after the last tool use, opencode's last text part), or "" when
// the output carries none.
func FinalMessage(output []byte) string {
	var last string
	var gemini strings.Builder
	for line := range bytes.Lines(output) {
		line = bytes.TrimSpace(line)
		if len(line) < 2 || line[0] != '{' {
			continue
		}
		var ev struct {
			Type    string `json:"type"`
			Result  string `json:"result"`
			Role    string `json:"role"`
			Content string `json:"content"`
			Delta   bool   `json:"delta"`
			Item    *struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"item"`
			Part *struct {
				Text string `json:"text"`
			} `json:"part"`
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "text" && ev.Part != nil && ev.Part.Text != "":
			// opencode: each text part is whole.
			last = ev.Part.Text
		case ev.Type == "result" && ev.Result != "":
			last = ev.Result
		case ev.Type == "item.completed" && ev.Item != nil && ev.Item.Type == "agent_message":
			last = ev.Item.Text
		case ev.Type == "message" && ev.Role == "assistant":
			if !ev.Delta {
				gemini.Reset()
			}
			gemini.WriteString(ev.Content)
			last = gemini.String()
		case ev.Type == "tool_use":
			gemini.Reset()
		}
	}
	return last
}

// FencedVerdict returns the last fenced JSON block of msg that holds a
// verdict field.
func FencedVerdict(msg string) ([]byte, bool) {
	var found []byte
	rest := msg
	for {
		i := strings.Index(rest, "```")
		if i < 0 {
			break
		}
		rest = rest[i+3:]
		nl := strings.IndexByte(rest, '\n')
		if nl < 0 {
			break
		}
		lang := strings.TrimSpace(rest[:nl])
		body := rest[nl+1:]
		end := strings.Index(body, "```")
		if end < 0 {
			break
		}
		block := strings.TrimSpace(body[:end])
		rest = body[end+3:]
		if lang != "" && lang != "json" {
			continue
		}
		var probe struct {
			Verdict *string `json:"verdict"`
		}
		if json.Unmarshal([]byte(block), &probe) == nil && probe.Verdict != nil {
			found = []byte(block)
		}
	}
	return found, found != nil
}

// VerdictFrom reads the auditor's verdict from the channels in order: the
// CLI's structured output, a fenced JSON block in its final message, the
// audit file in dir. A missing verdict is an error that names the channels
// tried; a verdict that is there but wrong is that verdict's error.
func VerdictFrom(output []byte, dir, auditFile string) (*Verdict, string, error) {
	if b, ok := StructuredVerdict(output); ok {
		v, err := ParseVerdict(b, "the CLI's structured output")
		return v, "structured output", err
	}
	if b, ok := FencedVerdict(FinalMessage(output)); ok {
		v, err := ParseVerdict(b, "the final message's JSON block")
		return v, "final message", err
	}
	if auditFile == "" {
		auditFile = DefaultAuditFile
	}
	v, err := ReadVerdict(dir, auditFile)
	if err != nil && strings.Contains(err.Error(), "wrote no verdict") {
		return nil, "", fmt.Errorf("auditor gave no verdict: not in the CLI's structured output, not as a fenced JSON block in its final message, not in %s", auditFile)
	}
	return v, auditFile, err
}
