package scripted

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/repoconfig"
)

// Env vars the scripted agent reads.
const (
	// EnvScript holds comma-separated switches.
	EnvScript = "SPECLOOP_SCRIPT"
	// EnvHang bounds the hang switch's sleep, as a Go duration; the default
	// is a day, which is "until killed" for any test.
	EnvHang = "SPECLOOP_SCRIPT_HANG"
)

// VerifyCommand passes while no impl/*.ok file says "broken": the verify
// command of sample repos driven by this agent.
const VerifyCommand = `! grep -qs broken impl/*.ok`

// Files the scripted agent writes, relative to the working copy.
const (
	ImplementedFile = "IMPLEMENTED.md"
	ImplDir         = "impl"
)

// The slow switch prints SlowLines lines, SlowEvery apart, before it acts.
const (
	SlowLines = 8
	SlowEvery = 400 * time.Millisecond
)

// PlanTasks is the task list the scripted agent plans.
const PlanTasks = "- [ ] [plan-1] Count widgets by colour\n- [ ] [plan-2] Report the total\n- [ ] [plan-3] Add a changelog entry\n"

// Token counts printed by the tokens switch; fixed so tests can expect them.
const (
	TokensInput  = 1200
	TokensCached = 200
	TokensOutput = 300
)

// SlowFor is how long the "slow" switch keeps the agent running.
const SlowFor = 4 * time.Second

var markerRE = regexp.MustCompile(`\[script:([a-z,\s]+)\]`)

// task is what the prompt says.
type task struct {
	role      agent.Role
	id        string
	text      string
	specPath  string
	auditFile string
	switches  map[string]bool
	// fix is a fix cycle's request (its Fix-Request header and the first
	// untrusted block after "## Requested fix"); answers counts the
	// answered questions.
	fixSource, fix string
	answers        int
	planFile       string // a planning cycle's Plan-File
}

// Main runs the scripted agent and returns its exit status. args are the
// arguments after the program name: "-dir DIR" sets the working copy
// (default: the current directory).
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("agent-script", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "working copy to change")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	prompt, err := io.ReadAll(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "scripted agent: reading the prompt: %v\n", err)
		return 2
	}
	t, err := parse(string(prompt), getenv)
	if err != nil {
		fmt.Fprintf(stderr, "scripted agent: %v\n", err)
		return 2
	}
	fmt.Fprintf(stdout, "scripted agent: %s for obligation %s\n", t.role, t.id)
	if t.switches["tokens"] {
		// The shape "codex exec --json" prints at the end of a turn.
		fmt.Fprintf(stdout, `{"type":"turn.completed","usage":{"input_tokens":%d,"cached_input_tokens":%d,"output_tokens":%d}}`+"\n",
			TokensInput, TokensCached, TokensOutput)
	}

	if t.switches["slow"] && t.role == agent.Implementer {
		// Output that arrives over a few seconds, for live views.
		for i := 1; i <= SlowLines; i++ {
			fmt.Fprintf(stdout, "scripted agent: working, step %d of %d\n", i, SlowLines)
			time.Sleep(SlowEvery)
		}
	}
	if t.switches["notes"] && t.role != agent.Auditor {
		note := fmt.Sprintf("Decision for %s (%s): the scripted agent kept it simple.\n", t.id, t.role)
		if err := write(filepath.Join(*dir, filepath.FromSlash(agent.NotesFile)), note); err != nil {
			fmt.Fprintf(stderr, "scripted agent: %v\n", err)
			return 1
		}
	}
	// ask: the implementer asks until the prompt carries an answer;
	// auditask: the auditor does.
	if (t.switches["ask"] && t.role == agent.Implementer || t.switches["auditask"] && t.role == agent.Auditor) && t.answers == 0 {
		q := fmt.Sprintf("Which colour should %s use for widgets without one? (asked by the scripted %s)\n", t.id, t.role)
		if err := write(filepath.Join(*dir, filepath.FromSlash(agent.QuestionFile)), q); err != nil {
			fmt.Fprintf(stderr, "scripted agent: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "scripted agent: asked a question\n")
		return 0
	}

	if t.planFile != "" && t.role != agent.Auditor {
		if err := write(filepath.Join(*dir, filepath.FromSlash(t.planFile)), PlanTasks); err != nil {
			fmt.Fprintf(stderr, "scripted agent: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "scripted agent: wrote the plan to %s\n", t.planFile)
		return 0
	}

	switch {
	case t.switches["fail"]:
		fmt.Fprintf(stderr, "scripted agent: failing as asked\n")
		return 1
	case t.switches["hang"]:
		d := 24 * time.Hour
		if v := getenv(EnvHang); v != "" {
			if d, err = time.ParseDuration(v); err != nil {
				fmt.Fprintf(stderr, "scripted agent: %s: %v\n", EnvHang, err)
				return 2
			}
		}
		fmt.Fprintf(stdout, "scripted agent: hanging\n")
		time.Sleep(d)
		fmt.Fprintf(stderr, "scripted agent: woke up without being killed\n")
		return 124
	case t.switches["nochange"]:
		fmt.Fprintf(stdout, "scripted agent: changing nothing, as asked\n")
		return 0
	}

	if err := act(*dir, t, stdout); err != nil {
		fmt.Fprintf(stderr, "scripted agent: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "scripted agent: done\n")
	return 0
}

// parse reads the prompt's header lines and the switches.
func parse(prompt string, getenv func(string) string) (*task, error) {
	t := &task{switches: map[string]bool{}}
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(prompt))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok || seen[key] {
			continue // only the first, which is the header's
		}
		seen[key] = true
		switch key {
		case agent.HeaderRole:
			t.role = agent.Role(value)
		case agent.HeaderObligationID:
			t.id = value
		case agent.HeaderObligationText:
			t.text = value
		case agent.HeaderSpecPath:
			t.specPath = value
		case agent.HeaderAuditFile:
			t.auditFile = value
		case agent.HeaderFixRequest:
			t.fixSource = value
		case agent.HeaderAnswers:
			fmt.Sscan(value, &t.answers)
		case agent.HeaderPlanFile:
			t.planFile = value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the prompt: %w", err)
	}
	if r := getenv(agent.EnvRole); r != "" {
		t.role = agent.Role(r)
	}
	if !t.role.Valid() {
		return nil, fmt.Errorf("no role: set %s or a %s line", agent.EnvRole, agent.HeaderRole)
	}
	if t.id == "" {
		return nil, fmt.Errorf("prompt has no %s line", agent.HeaderObligationID)
	}
	addSwitches(t.switches, getenv(EnvScript))
	// A fix cycle follows its request's switches, not the obligation's.
	switchText := t.text
	if t.fixSource != "" {
		t.fix = fixRequest(prompt)
		switchText = t.fix
	}
	for _, m := range markerRE.FindAllStringSubmatch(switchText, -1) {
		addSwitches(t.switches, m[1])
	}
	return t, nil
}

func addSwitches(set map[string]bool, list string) {
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			set[s] = true
		}
	}
}

// act makes the role's change in dir.
func act(dir string, t *task, log io.Writer) error {
	if t.role == agent.Auditor {
		return audit(dir, t, log)
	}
	if t.fixSource != "" {
		// A fix: one file per request, holding it, so a reviewer sees
		// which request the commit answers.
		name := fmt.Sprintf("fix-%s-%08x.txt", t.fixSource, crc32.ChecksumIEEE([]byte(t.fix)))
		if err := write(filepath.Join(dir, ImplDir, name), t.fix+"\n"); err != nil {
			return err
		}
		fmt.Fprintf(log, "scripted agent: wrote %s/%s for the %s fix\n", ImplDir, name, t.fixSource)
		return nil
	}
	line := fmt.Sprintf("- %s: %s", t.id, t.text)
	if err := ensureLine(filepath.Join(dir, ImplementedFile), line); err != nil {
		return err
	}
	fmt.Fprintf(log, "scripted agent: listed %s in %s\n", t.id, ImplementedFile)

	name := fileName(t.id)
	if err := write(filepath.Join(dir, ImplDir, name+".txt"), t.text+"\n"); err != nil {
		return err
	}
	status := "ok"
	switch {
	case t.role == agent.Implementer && (t.switches["breaktests"] || t.switches["breakalways"]):
		status = "broken"
	case t.role == agent.Fixer && t.switches["breakalways"]:
		status = "broken"
		fmt.Fprintf(log, "scripted agent: not fixing, as asked\n")
	case t.role == agent.Fixer:
		status = "fixed"
	}
	if err := write(filepath.Join(dir, ImplDir, name+".ok"), status+"\n"); err != nil {
		return err
	}
	fmt.Fprintf(log, "scripted agent: wrote %s/%s.txt and %s/%s.ok (%s)\n", ImplDir, name, ImplDir, name, status)

	if t.switches["overlay"] && t.role == agent.Implementer {
		if err := overlay(dir, t.id, log); err != nil {
			return err
		}
	}
	if t.switches["editworkflow"] {
		if err := write(filepath.Join(dir, ".github", "workflows", "ci.yml"), "on: push\njobs: {}\n"); err != nil {
			return fmt.Errorf("editworkflow: %w", err)
		}
	}
	if t.switches["slow"] {
		// Long enough for a test to act while the agent runs (move the
		// emulator's clock past the token's life, say).
		time.Sleep(SlowFor)
	}
	if t.switches["editspec"] {
		// An issue's spec is its body, out of reach: tamper with the repo
		// config instead, which is just as protected.
		target := t.specPath
		if target == "" {
			target = repoconfig.Path
		}
		spec := filepath.Join(dir, filepath.FromSlash(target))
		f, err := os.OpenFile(spec, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("editspec: %w", err)
		}
		_, err = fmt.Fprintf(f, "\n<!-- edited by the scripted agent for %s -->\n", t.id)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("editspec: %w", err)
		}
		fmt.Fprintf(log, "scripted agent: edited %s, as asked\n", target)
	}
	return nil
}

// OverlayDir holds, per obligation id, the files the overlay switch copies
// over the working copy: OverlayDir/<id>/calc.go replaces calc.go, and
// OverlayDir/<id>/calc_test.go.delete deletes calc_test.go. Test runners
// skip it (Go and pytest ignore dot directories).
const OverlayDir = ".script"

// overlay makes the change the repo holds for obligation id.
func overlay(dir, id string, log io.Writer) error {
	root := filepath.Join(dir, OverlayDir, fileName(id))
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if target, ok := strings.CutSuffix(rel, ".delete"); ok {
			fmt.Fprintf(log, "scripted agent: deleted %s, as the overlay says\n", filepath.ToSlash(target))
			return os.Remove(filepath.Join(dir, target))
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
		fmt.Fprintf(log, "scripted agent: wrote %s from the overlay\n", filepath.ToSlash(rel))
		return write(filepath.Join(dir, rel), string(b))
	})
}

// audit writes the auditor's verdict.
func audit(dir string, t *task, log io.Writer) error {
	if t.auditFile == "" {
		t.auditFile = agent.DefaultAuditFile // as agent.Prompt's default
	}
	var content string
	switch {
	case t.switches["auditgarbage"]:
		content = "the change looks fine to me {\n"
	case t.switches["auditfail"]:
		content = mustJSON(agent.Verdict{
			Verdict: agent.VerdictFail,
			Summary: fmt.Sprintf("scripted auditor: failing %s as asked", t.id),
			Findings: []agent.Finding{{
				File: ImplementedFile, Line: 1, Severity: agent.SeverityFailure,
				Message: "scripted auditor: failing as asked",
			}},
		})
	default:
		content = mustJSON(agent.Verdict{
			Verdict:  agent.VerdictPass,
			Summary:  fmt.Sprintf("scripted auditor: %s is implemented", t.id),
			Findings: []agent.Finding{},
		})
	}
	if err := write(filepath.Join(dir, filepath.FromSlash(t.auditFile)), content); err != nil {
		return err
	}
	fmt.Fprintf(log, "scripted agent: wrote the verdict to %s\n", t.auditFile)
	return nil
}

func mustJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // a Verdict always marshals
	}
	return string(b) + "\n"
}

// ensureLine appends line to the file at name unless it is there already,
// so that the fixer after the implementer does not list an obligation
// twice.
func ensureLine(name, line string) error {
	data, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", filepath.Base(name), err)
	}
	if slices.Contains(strings.Split(string(data), "\n"), line) {
		return nil
	}
	if len(data) > 0 && !strings.HasSuffix(string(data), "\n") {
		data = append(data, '\n')
	}
	return write(name, string(data)+line+"\n")
}

func write(name, content string) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(name), err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// fileName turns an obligation id into a safe file name.
func fileName(id string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, strings.Trim(id, "."))
}

// fixRequest is the first untrusted block after the prompt's "## Requested
// fix" heading.
func fixRequest(prompt string) string {
	_, rest, ok := strings.Cut(prompt, "\n## Requested fix\n")
	if !ok {
		return ""
	}
	lines := strings.Split(rest, "\n")
	for i, l := range lines {
		fence := strings.TrimSuffix(l, agent.UntrustedLang)
		if fence == l || strings.Trim(fence, "`") != "" || len(fence) < 3 {
			continue
		}
		var body []string
		for _, b := range lines[i+1:] {
			if b == fence {
				break
			}
			body = append(body, b)
		}
		return strings.TrimSpace(strings.Join(body, "\n"))
	}
	return ""
}
