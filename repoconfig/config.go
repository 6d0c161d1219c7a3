package repoconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/spec"
)

// Path is where a repo keeps its specloop config, read from the default
// branch only: PR content is untrusted. No agent may edit it.
const Path = ".github/specloop.yml"

// DefaultLabel is the issue label that starts a run unless the config names
// another.
const DefaultLabel = "specloop"

// Config is `.github/specloop.yml`; every field is optional.
type Config struct {
	Specs        []string     `yaml:"specs"`
	Label        string       `yaml:"label"`
	BranchPrefix string       `yaml:"branch_prefix"`
	Base         string       `yaml:"base"`
	Agent        AgentConfig  `yaml:"agent"`
	Verify       VerifyConfig `yaml:"verify"`
	FixAttempts  *int         `yaml:"fix_attempts"`
	Audit        *bool        `yaml:"audit"`
	OnPush       string       `yaml:"on_push"`
	Schedule     string       `yaml:"schedule"`
	Drain        DrainConfig  `yaml:"drain"`
	Limits       LimitsConfig `yaml:"limits"`
	Auditor      *AgentConfig `yaml:"auditor"` // optional: a different command for the auditor role
}

// AgentConfig is the coding agent's command and what it may receive.
type AgentConfig struct {
	Command string   `yaml:"command"`
	Env     []string `yaml:"env"`
	Timeout Duration `yaml:"timeout"`
	Network *bool    `yaml:"network"`
}

// VerifyConfig is the project's verification.
type VerifyConfig struct {
	Command string   `yaml:"command"`
	Timeout Duration `yaml:"timeout"`
	Network bool     `yaml:"network"`
}

// DrainConfig bounds a scheduled drain.
type DrainConfig struct {
	MaxCycles int `yaml:"max_cycles"`
}

// LimitsConfig bounds a repo's use of the workers.
type LimitsConfig struct {
	CyclesPerPR int `yaml:"cycles_per_pr"`
	Concurrent  int `yaml:"concurrent"`
}

// Duration is a time.Duration written as "30m" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v <= 0 {
		return fmt.Errorf("line %d: %q is not a duration like 30m or 1h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// DefaultAgentCommand runs Codex non-interactively with the prompt on stdin.
const DefaultAgentCommand = agent.DefaultCommand

// Parse parses and validates a repo config, filling defaults. An
// empty or missing file is the defaults. Errors name the line.
func Parse(src []byte) (*Config, error) {
	c := &Config{}
	if len(bytes.TrimSpace(src)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(src))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil {
			return nil, fmt.Errorf("%s: %s", Path, strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
	var errs []error
	if len(c.Specs) == 0 {
		c.Specs = []string{spec.DefaultGlob}
	}
	if c.Label == "" {
		c.Label = DefaultLabel
	}
	if c.BranchPrefix == "" {
		c.BranchPrefix = "specloop/"
	}
	if !strings.HasSuffix(c.BranchPrefix, "/") {
		errs = append(errs, fmt.Errorf("branch_prefix %q must end with /", c.BranchPrefix))
	}
	if c.Agent.Command == "" {
		c.Agent.Command = DefaultAgentCommand
	}
	if c.Agent.Timeout == 0 {
		c.Agent.Timeout = Duration(30 * time.Minute)
	}
	if c.Verify.Timeout == 0 {
		c.Verify.Timeout = Duration(15 * time.Minute)
	}
	if c.FixAttempts == nil {
		two := 2
		c.FixAttempts = &two
	} else if *c.FixAttempts < 0 || *c.FixAttempts > 10 {
		errs = append(errs, fmt.Errorf("fix_attempts %d must be between 0 and 10", *c.FixAttempts))
	}
	if c.Audit == nil {
		t := true
		c.Audit = &t
	}
	switch c.OnPush {
	case "":
		c.OnPush = "check"
	case "check", "cycle", "none":
	default:
		errs = append(errs, fmt.Errorf("on_push %q must be check, cycle or none", c.OnPush))
	}
	if c.Schedule != "" {
		if _, err := cron.ParseStandard(c.Schedule); err != nil {
			errs = append(errs, fmt.Errorf("schedule %q: %v", c.Schedule, err))
		}
	}
	if c.Drain.MaxCycles == 0 {
		c.Drain.MaxCycles = 5
	}
	if c.Limits.CyclesPerPR == 0 {
		c.Limits.CyclesPerPR = 20
	}
	if c.Limits.Concurrent == 0 {
		c.Limits.Concurrent = 2
	}
	for _, name := range c.Agent.Env {
		if ForbiddenEnv(name) {
			errs = append(errs, fmt.Errorf("agent.env: %s may not be passed into the sandbox", name))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %w", Path, errors.Join(errs...))
	}
	return c, nil
}

// ForbiddenEnv reports whether name is one of the server's own secrets, which never enter a sandbox
// whatever a repo config asks.
func ForbiddenEnv(name string) bool {
	switch name {
	case "WEBHOOK_SECRET", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "DATABASE_URL", "GITHUB_TOKEN", "GH_TOKEN", "TEST_DATABASE_URL":
		return true
	}
	return false
}

// IsSpec reports whether path is a spec under the config's globs.
func (c *Config) IsSpec(path string) bool { return spec.Match(c.Specs, path) }

// SpecFiles lists the spec files of a working copy, in path order.
func (c *Config) SpecFiles(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if e.IsDir() && (rel == ".git" || rel == ".specloop") {
			return filepath.SkipDir
		}
		if !e.IsDir() && c.IsSpec(rel) {
			paths = append(paths, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list specs: %w", err)
	}
	sort.Strings(paths)
	return paths, nil
}

// SpecBranch is the branch of a spec's run: the prefix and the spec's path
// without its extension, e.g. specloop/spec/auth.
func (c *Config) SpecBranch(specPath string) string {
	name := strings.TrimSuffix(specPath, path.Ext(specPath))
	name = strings.TrimPrefix(name, "specs/")
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '/', r == '.':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	return c.BranchPrefix + "spec/" + strings.Trim(b.String(), "/.")
}

// Protected reports whether the agent may not change path: specs and the
// repo config are the bot's alone.
func (c *Config) Protected(path string) bool { return path == Path || c.IsSpec(path) }
