package repoconfig

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/specloop/specloop/agent"
)

// Network is how much network an agent gets.
type Network string

// Network modes of agent.network.
const (
	// NetworkModel: no network but the model API, through specloop's proxy.
	NetworkModel Network = "model"
	// NetworkNone: the loopback interface only.
	NetworkNone Network = "none"
	// NetworkFull: the worker's network, unfiltered.
	NetworkFull Network = "full"
)

// UnmarshalYAML reads model, none or full; true and false, from before
// the model proxy, mean full and none.
func (n *Network) UnmarshalYAML(node *yaml.Node) error {
	switch strings.ToLower(node.Value) {
	case "model":
		*n = NetworkModel
	case "none", "false":
		*n = NetworkNone
	case "full", "true":
		*n = NetworkFull
	default:
		return fmt.Errorf("line %d: network %q must be model, none or full", node.Line, node.Value)
	}
	return nil
}

// agentKeys are the keys of the table form of agent: and auditor:.
var agentKeys = []string{"preset", "command", "env", "network", "timeout"}

// UnmarshalYAML reads `agent: codex` (a preset's name) or the table form.
func (a *AgentConfig) UnmarshalYAML(node *yaml.Node) error {
	switch node.Kind {
	case yaml.ScalarNode:
		a.Preset = node.Value
		return nil
	case yaml.MappingNode:
		// Node.Decode forgets the outer decoder's KnownFields: check here.
		for i := 0; i+1 < len(node.Content); i += 2 {
			if k := node.Content[i]; !slices.Contains(agentKeys, k.Value) {
				return fmt.Errorf("line %d: field %s not found (want %s)", k.Line, k.Value, strings.Join(agentKeys, ", "))
			}
		}
		type plain AgentConfig
		return node.Decode((*plain)(a))
	default:
		return fmt.Errorf("line %d: want a preset name (%s) or a table", node.Line, strings.Join(agent.PresetNames(), ", "))
	}
}

// fill checks a and sets its defaults; an auditor (def set) defaults to
// the agent's preset or command.
func (a *AgentConfig) fill(key string, def *AgentConfig) []error {
	var errs []error
	if a.Preset != "" {
		if _, ok := agent.Presets[a.Preset]; !ok {
			errs = append(errs, fmt.Errorf("%s: unknown preset %q (want %s, or command: for any other CLI)", key, a.Preset, strings.Join(agent.PresetNames(), ", ")))
		}
	}
	if a.Preset == "" && a.Command == "" {
		if def != nil {
			a.Preset, a.Command = def.Preset, def.Command
		} else {
			a.Preset = agent.DefaultPreset
		}
	}
	if a.Network == "" {
		switch {
		case def != nil && def.Preset == a.Preset && def.Command == a.Command:
			a.Network = def.Network
		case a.Preset != "":
			a.Network = NetworkModel
		default:
			a.Network = NetworkFull
		}
	}
	if a.Network == NetworkModel && a.Preset == "" {
		errs = append(errs, fmt.Errorf("%s: network: model needs a preset, which says which model API to reach", key))
	}
	if def != nil {
		if a.Timeout == 0 {
			a.Timeout = def.Timeout
		}
		if a.Env == nil {
			a.Env = def.Env
		}
	}
	for _, name := range a.Env {
		if ForbiddenEnv(name) {
			errs = append(errs, fmt.Errorf("%s.env: %s may not be passed into the sandbox (model keys stay with the model proxy: use a preset, see docs/agents.md)", key, name))
		}
	}
	return errs
}

// AuditorConfig is the auditor's agent: auditor: when set, else the
// agent's.
func (c *Config) AuditorConfig() *AgentConfig {
	if c.Auditor != nil {
		return c.Auditor
	}
	return &c.Agent
}
