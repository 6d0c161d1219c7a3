package repoconfig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
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
	// Specs are globs naming the spec files; empty means discovery of
	// every format present (spec.Candidate).
	Specs []string `yaml:"specs"`
	// IncludeOptional makes cycles work on Kiro's optional "- [ ]*" tasks.
	IncludeOptional bool         `yaml:"include_optional"`
	Label           string       `yaml:"label"`
	BranchPrefix    string       `yaml:"branch_prefix"`
	Base            string       `yaml:"base"`
	Agent           AgentConfig  `yaml:"agent"`
	Verify          VerifyConfig `yaml:"verify"`
	FixAttempts     *int         `yaml:"fix_attempts"`
	Audit           *bool        `yaml:"audit"`
	OnPush          string       `yaml:"on_push"`
	Schedule        string       `yaml:"schedule"`
	Drain           DrainConfig  `yaml:"drain"`
	Limits          LimitsConfig `yaml:"limits"`
	Auditor         *AgentConfig `yaml:"auditor"` // optional: a different command for the auditor role
	// OnReview and OnCIFailure say whether a maintainer's review and a
	// failing CI suite on a run's PR queue a fix cycle: cycle (default) or
	// none.
	OnReview    string `yaml:"on_review"`
	OnCIFailure string `yaml:"on_ci_failure"`
	// Plan is "approve" to have a first cycle write the task list and
	// wait for a maintainer's approval; "" plans only prose specs.
	Plan string `yaml:"plan"`
	// Sandbox says what the repo's sandboxes run from.
	Sandbox SandboxConfig `yaml:"sandbox"`
}

// SandboxConfig is the repo's `sandbox:` table.
type SandboxConfig struct {
	// Image is the image of the repo's sandbox pods (SANDBOX=kubernetes)
	// instead of the worker's KUBE_SANDBOX_IMAGE; the operator allows it
	// in KUBE_IMAGES (ImageAllowed), else the config check fails.
	Image string `yaml:"image"`
}

// AgentConfig is the coding agent: a preset, or a command, and what it may
// receive. In YAML it is a preset's name (`agent: claude`) or a table; see
// agent.go.
type AgentConfig struct {
	// Preset names one of agent.Presets; empty with Command set means a
	// plain command.
	Preset  string   `yaml:"preset"`
	Command string   `yaml:"command"`
	Env     []string `yaml:"env"`
	Timeout Duration `yaml:"timeout"`
	// Network is model (presets' default), none or full (a plain
	// command's default).
	Network Network `yaml:"network"`
}

// VerifyConfig is the project's verification.
type VerifyConfig struct {
	Command string   `yaml:"command"`
	Timeout Duration `yaml:"timeout"`
	Network bool     `yaml:"network"`
	// Require, when RequireRedGreen, fails verify unless some test went
	// from failing or absent on the start commit to passing.
	Require string `yaml:"require"`
}

// RequireRedGreen is the verify requirement that a change turn some test
// from red (or absent) to green.
const RequireRedGreen = "red_green"

// DrainConfig bounds a scheduled drain.
type DrainConfig struct {
	MaxCycles int `yaml:"max_cycles"`
}

// LimitsConfig bounds a repo's use of the workers.
type LimitsConfig struct {
	CyclesPerPR int `yaml:"cycles_per_pr"`
	Concurrent  int `yaml:"concurrent"`
	// CIFixes bounds the CI fix cycles in a row on a PR (default 2).
	CIFixes *int `yaml:"ci_fixes"`
	// Budgets counted at the model proxy; zero means none.
	TokensPerRun int64   `yaml:"tokens_per_run"`
	USDPerRun    float64 `yaml:"usd_per_run"`
	USDPerDay    float64 `yaml:"usd_per_day"`
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

// DefaultAgentCommand is the command of the default preset, codex.
var DefaultAgentCommand = agent.Presets[agent.DefaultPreset].Command

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
	if c.Label == "" {
		c.Label = DefaultLabel
	}
	if c.BranchPrefix == "" {
		c.BranchPrefix = "specloop/"
	}
	if !strings.HasSuffix(c.BranchPrefix, "/") {
		errs = append(errs, fmt.Errorf("branch_prefix %q must end with /", c.BranchPrefix))
	}
	errs = append(errs, c.Agent.fill("agent", nil)...)
	if img := c.Sandbox.Image; img != "" && (strings.TrimSpace(img) != img || strings.ContainsAny(img, " \t\n")) {
		errs = append(errs, fmt.Errorf("sandbox.image %q is not an image reference", img))
	}
	if c.Limits.TokensPerRun < 0 || c.Limits.USDPerRun < 0 || c.Limits.USDPerDay < 0 {
		errs = append(errs, errors.New("limits: tokens_per_run, usd_per_run and usd_per_day must not be negative"))
	}
	if c.Agent.Timeout == 0 {
		c.Agent.Timeout = Duration(30 * time.Minute)
	}
	if c.Auditor != nil {
		errs = append(errs, c.Auditor.fill("auditor", &c.Agent)...)
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
	errs = append(errs, c.loopDefaults()...)
	if c.Verify.Require != "" && c.Verify.Require != RequireRedGreen {
		errs = append(errs, fmt.Errorf("verify.require %q must be %s", c.Verify.Require, RequireRedGreen))
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
	case "WEBHOOK_SECRET", "WEBHOOK_SECRET_PREVIOUS", "EVIDENCE_KEY", "EVIDENCE_KEY_PREVIOUS", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "DATABASE_URL", "GITHUB_TOKEN", "GH_TOKEN", "TEST_DATABASE_URL":
		return true
	}
	// Model credentials stay with the model proxy: a CLI reaches its API
	// through a preset (agent: {preset: codex, command: ...} for any CLI
	// that speaks OpenAI's API), with a placeholder key.
	for _, p := range agent.Presets {
		if slices.Contains(p.Credentials, name) {
			return true
		}
	}
	return false
}

// IsSpec reports whether path is a spec: under the config's globs, or
// when it sets none, a task file discovery would consider (judged by its
// path; a plain file under specs/ is a spec only if it holds a task list,
// which SpecFiles checks).
func (c *Config) IsSpec(path string) bool {
	if len(c.Specs) == 0 {
		return spec.Candidate(path)
	}
	return spec.Match(c.Specs, path)
}

// IsSpecFile reports whether the file at path holding src is a spec:
// IsSpec, and under discovery a plain file must hold a task list.
func (c *Config) IsSpecFile(path string, src []byte) bool {
	if !c.IsSpec(path) {
		return false
	}
	return !c.Discovers() || spec.FormatOf(path) != spec.FormatPlain || spec.HasTaskList(path, src)
}

// Discovers reports whether the config leaves finding specs to discovery.
func (c *Config) Discovers() bool { return len(c.Specs) == 0 }

// SpecFiles lists the spec files of a working copy, in path order. Under
// discovery, plain Markdown without a task list is prose, not a spec.
func (c *Config) SpecFiles(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if e.IsDir() && (rel == ".git" || rel == ".specloop" || rel == "node_modules") {
			return filepath.SkipDir
		}
		if e.IsDir() || !c.IsSpec(rel) {
			return nil
		}
		if c.Discovers() && spec.FormatOf(rel) == spec.FormatPlain {
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !c.IsSpecFile(rel, src) {
				return nil
			}
		}
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list specs in %s: %w", dir, err)
	}
	sort.Strings(paths)
	return paths, nil
}

// SpecBranch is the branch of a spec's run: the prefix, "spec/" and one
// ref component naming the task file, e.g. specloop/spec/auth for
// specs/auth.md, specloop/spec/001-photos--tasks for Spec Kit's
// specs/001-photos/tasks.md, specloop/spec/kiro--users for
// .kiro/specs/users/tasks.md. One component means no branch is ever a
// directory of another ("cannot lock ref"); a name that could be read
// back as another path gets eight hex digits of the path's hash.
func (c *Config) SpecBranch(specPath string) string {
	return c.BranchPrefix + "spec/" + branchName(specPath)
}

var hashSuffixRe = regexp.MustCompile(`-[0-9a-f]{8}$`)

func branchName(specPath string) string {
	p := path.Clean(filepath.ToSlash(specPath))
	p = strings.TrimPrefix(p, "./")
	name, lossless := strings.CutSuffix(p, ".md")
	seg := strings.Split(name, "/")
	switch {
	case len(seg) == 4 && seg[0] == ".kiro" && seg[1] == "specs" && seg[3] == "tasks":
		seg = []string{"kiro", seg[2]}
	case len(seg) == 4 && seg[0] == "openspec" && seg[1] == "changes" && seg[3] == "tasks":
		seg = []string{"openspec", seg[2]}
	case len(seg) > 1 && seg[0] == "specs":
		seg = seg[1:]
		// Under specs/, these first names belong to the tools' forms.
		lossless = lossless && seg[0] != "kiro" && seg[0] != "openspec"
	default:
		lossless = false
	}
	for i, s := range seg {
		clean := sanitize(s)
		if clean != s || s == "" || strings.Contains(s, "--") || strings.Trim(s, "-.") != s || strings.HasSuffix(s, ".lock") {
			lossless = false
		}
		seg[i] = clean
	}
	out := strings.Trim(strings.Join(seg, "--"), "-.")
	if out == "" || hashSuffixRe.MatchString(out) {
		lossless = false
	}
	if lossless {
		return out
	}
	sum := sha256.Sum256([]byte(p))
	if out == "" {
		out = "spec"
	}
	return out + "-" + hex.EncodeToString(sum[:])[:8]
}

// sanitize keeps the bytes git allows in a ref everywhere and turns the
// rest into "-".
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == '.' && !strings.HasSuffix(b.String(), "."):
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	return b.String()
}

// Protected reports whether the agent may not change path: task files and
// the repo config are the bot's alone. Context documents beside a task file
// (Spec Kit's plan.md, Kiro's design.md, …) are not specs, so the agent may
// edit them when a task asks.
func (c *Config) Protected(path string) bool { return path == Path || c.IsSpec(path) }
