package agent

import (
	"bytes"
	"encoding/json"
)

// Usage is the token use an agent reported.
type Usage struct {
	// Input counts all prompt tokens, cached ones included.
	Input int `json:"input"`
	// Cached is the part of Input served from a prompt cache.
	Cached int `json:"cached,omitempty"`
	// Output counts generated tokens, reasoning included.
	Output int `json:"output"`
	// Total is the agent's own total when it reports one, else
	// Input+Output.
	Total int `json:"total"`
}

// ParseUsage reads the token use an agent printed on its output, one JSON
// object per line, and returns nil when no line reports any: the numbers are
// never estimated. Lines that are not JSON are skipped, so the agent's JSON
// may be mixed with other output. The shapes accepted:
//
//   - Claude Code, "--output-format stream-json" (or "json"): the
//     {"type":"result", ..., "usage":{"input_tokens", "output_tokens",
//     "cache_creation_input_tokens", "cache_read_input_tokens"}} line that
//     ends a session. Its usage covers the session, so the last one wins.
//     Claude counts cache reads and writes apart from input_tokens; Input
//     adds them up, Cached is cache_read_input_tokens.
//   - Codex, "codex exec --json" in current releases:
//     {"type":"turn.completed","usage":{"input_tokens", "cached_input_tokens",
//     "output_tokens"}} per turn; these are summed.
//   - Codex token_count events, as in its session files and older exec
//     JSON output: {"type":"token_count","info":{"total_token_usage":{...}}},
//     bare, under "payload" ({"type":"event_msg","payload":{...}}) or under
//     "msg" ({"id":"0","msg":{...}}). total_token_usage is cumulative, so
//     the last one wins. A token_count carrying the counts directly (no
//     info) is taken the same way; whether those older events were
//     cumulative is not documented, so they may under-count a multi-turn
//     session.
//
// When a stream mixes kinds, a Claude result beats a Codex token_count,
// which beats a sum of turn.completed events: each is the more complete
// account of the one before.
func ParseUsage(output []byte) *Usage {
	var claude, cumulative, turns *Usage
	for line := range bytes.Lines(output) {
		line = bytes.TrimSpace(line)
		if len(line) < 2 || line[0] != '{' {
			continue
		}
		// Agents' JSON lines carry whole files and diffs; only decode the
		// few that can hold a usage report.
		if !bytes.Contains(line, []byte(`"usage"`)) && !bytes.Contains(line, []byte(`"token_count"`)) &&
			!bytes.Contains(line, []byte(`"stats"`)) && !bytes.Contains(line, []byte(`"tokens"`)) {
			continue
		}
		var ev usageEvent
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "result" && ev.Usage != nil:
			claude = ev.Usage.claude()
		case ev.Type == "result" && ev.Stats != nil:
			claude = ev.Stats.usage()
		case ev.Type == "step_finish" && ev.Part != nil && ev.Part.Tokens != nil:
			t := ev.Part.Tokens
			if turns == nil {
				turns = &Usage{}
			}
			turns.Input += t.Input + t.Cache.Read + t.Cache.Write
			turns.Cached += t.Cache.Read
			turns.Output += t.Output + t.Reasoning
			turns.Total = turns.Input + turns.Output
		case ev.Type == "turn.completed" && ev.Usage != nil:
			u := ev.Usage.codex()
			if turns == nil {
				turns = &Usage{}
			}
			turns.Input += u.Input
			turns.Cached += u.Cached
			turns.Output += u.Output
			turns.Total += u.Total
		case ev.Type == "token_count":
			if u := ev.tokenCount.usage(); u != nil {
				cumulative = u
			}
		case ev.Payload != nil && ev.Payload.Type == "token_count":
			if u := ev.Payload.usage(); u != nil {
				cumulative = u
			}
		case ev.Msg != nil && ev.Msg.Type == "token_count":
			if u := ev.Msg.usage(); u != nil {
				cumulative = u
			}
		}
	}
	var u *Usage
	switch {
	case claude != nil:
		u = claude
	case cumulative != nil:
		u = cumulative
	default:
		u = turns
	}
	// A CLI that never reached its model (not logged in, a bad flag)
	// still prints a result with zeros: that is not a report of use.
	if u != nil && u.Input == 0 && u.Output == 0 && u.Total == 0 {
		return nil
	}
	return u
}

// ReportedCost is the cost the agent printed itself: the last
// total_cost_usd of a Claude result (cumulative over the session), else
// the sum of opencode's per-step cost; 0 when none.
func ReportedCost(output []byte) float64 {
	var claude, steps float64
	for line := range bytes.Lines(output) {
		line = bytes.TrimSpace(line)
		if len(line) < 2 || line[0] != '{' || !bytes.Contains(line, []byte(`cost`)) {
			continue
		}
		var ev struct {
			Type         string   `json:"type"`
			TotalCostUSD *float64 `json:"total_cost_usd"`
			Part         *struct {
				Cost float64 `json:"cost"`
			} `json:"part"`
		}
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		switch {
		case ev.Type == "result" && ev.TotalCostUSD != nil:
			claude = *ev.TotalCostUSD
		case ev.Type == "step_finish" && ev.Part != nil:
			steps += ev.Part.Cost
		}
	}
	if claude > 0 {
		return claude
	}
	return steps
}

// usageEvent is the union of the JSON lines ParseUsage reads.
type usageEvent struct {
	Type  string      `json:"type"`
	Usage *tokenUsage `json:"usage"`
	// Gemini CLI's stream-json result.
	Stats *geminiStats `json:"stats"`
	// opencode's run --format json step_finish.
	Part *struct {
		Tokens *struct {
			Input     int `json:"input"`
			Output    int `json:"output"`
			Reasoning int `json:"reasoning"`
			Cache     struct {
				Read  int `json:"read"`
				Write int `json:"write"`
			} `json:"cache"`
		} `json:"tokens"`
	} `json:"part"`
	tokenCount
	Payload *tokenCount `json:"payload"`
	Msg     *tokenCount `json:"msg"`
}

// tokenCount is a Codex token_count event.
type tokenCount struct {
	Type string `json:"type"`
	Info *struct {
		TotalTokenUsage *tokenUsage `json:"total_token_usage"`
	} `json:"info"`
	// Counts given directly on the event, without info.
	tokenUsage
}

func (tc *tokenCount) usage() *Usage {
	if tc.Info != nil && tc.Info.TotalTokenUsage != nil {
		return tc.Info.TotalTokenUsage.codex()
	}
	if tc.InputTokens != nil || tc.OutputTokens != nil {
		return tc.tokenUsage.codex()
	}
	return nil
}

// tokenUsage holds the counters of both agents' usage objects.
type tokenUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	TotalTokens              *int `json:"total_tokens"`
	CachedInputTokens        int  `json:"cached_input_tokens"`
	CacheCreationInputTokens int  `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int  `json:"cache_read_input_tokens"`
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// codex reads a Codex usage object, where cached_input_tokens is part of
// input_tokens and reasoning tokens are part of output_tokens.
func (t tokenUsage) codex() *Usage {
	u := &Usage{Input: deref(t.InputTokens), Cached: t.CachedInputTokens, Output: deref(t.OutputTokens)}
	u.Total = u.Input + u.Output
	if t.TotalTokens != nil {
		u.Total = *t.TotalTokens
	}
	return u
}

// claude reads an Anthropic usage object, where input_tokens excludes the
// tokens read from and written to the prompt cache.
func (t tokenUsage) claude() *Usage {
	u := &Usage{
		Input:  deref(t.InputTokens) + t.CacheCreationInputTokens + t.CacheReadInputTokens,
		Cached: t.CacheReadInputTokens,
		Output: deref(t.OutputTokens),
	}
	u.Total = u.Input + u.Output
	return u
}

// geminiStats is the stats of Gemini CLI's stream-json result event
// (StreamStats in its nonInteractive output types): input_tokens counts
// the whole prompt, cached the part served from its cache.
type geminiStats struct {
	TotalTokens  int `json:"total_tokens"`
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	Cached       int `json:"cached"`
}

func (g *geminiStats) usage() *Usage {
	u := &Usage{Input: g.InputTokens, Cached: g.Cached, Output: g.OutputTokens, Total: g.TotalTokens}
	if u.Total == 0 {
		u.Total = u.Input + u.Output
	}
	return u
}
