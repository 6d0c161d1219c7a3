package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/specloop/specloop/repoconfig"
	"github.com/specloop/specloop/spec"
)

const specUsage = `usage:
  specloop spec lint [FILE|DIR...]   check specs (every task file discovery finds in a DIR, default .);
                                     print each problem as file:line: msg
  specloop spec next FILE            print the obligation a cycle would work on next
  specloop spec list [--repo DIR]    list the task files of a repo with their format, counts and next obligation
`

// runSpec implements "specloop spec"; args are what follows "spec". Exit
// codes: 0 fine (also when nothing is left to do), 1 a spec is bad or
// unreadable, 2 usage.
func runSpec(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, specUsage)
		return 2
	}
	switch cmd, files := args[0], args[1:]; {
	case cmd == "lint":
		if len(files) == 0 {
			files = []string{"."}
		}
		return specLint(ctx, files, stdout, stderr)
	case cmd == "list":
		return specList(files, stdout, stderr)
	case cmd == "next" && len(files) == 1:
		return specNext(files[0], stdout, stderr)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(stdout, specUsage)
		return 0
	default:
		fmt.Fprint(stderr, specUsage)
		return 2
	}
}

// specLint prints the problems of every file, so one run shows all of
// them, and "ok FILE (N obligations, M open)" for each good one. A
// directory is a repository: every task file its config (or discovery)
// names is linted. Warnings are printed but do not fail the run.
func specLint(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	code := 0
	for _, arg := range args {
		if err := ctx.Err(); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		files, err := lintTargets(arg)
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		rels := make([]string, len(files))
		byRel := make(map[string]string, len(files))
		for i, f := range files {
			rels[i], byRel[f.rel] = f.rel, f.file
		}
		// A directory may hold a thousand task files: lint them on every
		// CPU, print them in path order.
		for i, l := range spec.LintAll(rels, func(rel string) ([]byte, error) { return os.ReadFile(byRel[rel]) }) {
			if !report(files[i], l, stdout, stderr) {
				code = 1
			}
		}
	}
	return code
}

// target is a file to lint: where to read it and its repo-relative path,
// which derived ids hash.
type target struct{ file, rel string }

// lintTargets expands a directory into its task files; a file stands for
// itself.
func lintTargets(arg string) ([]target, error) {
	info, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []target{{file: arg, rel: repoPath(arg)}}, nil
	}
	cfg, err := loadRepoConfig(arg)
	if err != nil {
		return nil, err
	}
	rels, err := cfg.SpecFiles(arg)
	if err != nil {
		return nil, err
	}
	if len(rels) == 0 {
		return nil, fmt.Errorf("%s: no task files found (specs/, .kiro/specs/, openspec/changes/ or the config's specs:)", arg)
	}
	out := make([]target, len(rels))
	for i, rel := range rels {
		out[i] = target{file: filepath.Join(arg, filepath.FromSlash(rel)), rel: rel}
	}
	return out, nil
}

// loadRepoConfig reads dir's .github/specloop.yml, or the defaults when
// it has none.
func loadRepoConfig(dir string) (*repoconfig.Config, error) {
	src, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(repoconfig.Path)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read repo config: %w", err)
	}
	return repoconfig.Parse(src)
}

// report prints what lint found in one file and "ok FILE (…)" when it has
// no errors; false means it has.
func report(t target, l spec.Linted, stdout, stderr io.Writer) bool {
	if l.Err != nil {
		fmt.Fprintln(stderr, l.Err)
		return false
	}
	for _, e := range l.Problems {
		e.Path = t.file // as typed, so the terminal can open it
		fmt.Fprintln(stdout, e)
	}
	if spec.HasErrors(l.Problems) {
		return false
	}
	s := l.Spec
	open := 0
	for _, o := range s.Obligations {
		if !o.Done {
			open++
		}
	}
	format := ""
	if s.Format != spec.FormatPlain {
		format = string(s.Format) + ", "
	}
	fmt.Fprintf(stdout, "ok %s (%s%d obligations, %d open)\n", t.file, format, len(s.Obligations), open)
	return true
}

// specList prints one line per task file of the repo at --repo (default
// the current directory):
//
//	FILE                        FORMAT    DONE  OPEN  OPTIONAL  IN PROGRESS  BLOCKED  NEXT
//	specs/001-photos/tasks.md   spec-kit  3     10    0         0            1        T004 Setup database schema
func specList(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("spec list", flag.ContinueOnError)
	fl.SetOutput(stderr)
	repo := fl.String("repo", ".", "the repository's root")
	if err := fl.Parse(args); err != nil || fl.NArg() > 0 {
		fmt.Fprint(stderr, specUsage)
		return 2
	}
	cfg, err := loadRepoConfig(*repo)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	rels, err := cfg.SpecFiles(*repo)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tFORMAT\tDONE\tOPEN\tOPTIONAL\tIN PROGRESS\tBLOCKED\tNEXT")
	code := 0
	for _, rel := range rels {
		src, err := os.ReadFile(filepath.Join(*repo, filepath.FromSlash(rel)))
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		s, err := spec.Parse(rel, src)
		if err != nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\tinvalid: run specloop spec lint\n", rel, spec.FormatOf(rel))
			code = 1
			continue
		}
		s.IncludeOptional = cfg.IncludeOptional
		n := map[spec.State]int{}
		for _, st := range s.Status() {
			n[st.State]++
		}
		next := "nothing left"
		if o, ok := s.Next(); ok {
			next = o.ID + " " + oneLine(o.Text, 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", rel, s.Format,
			n[spec.StateDone], n[spec.StateOpen], n[spec.StateOptional], n[spec.StateInProgress], n[spec.StateBlocked], next)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if len(rels) == 0 {
		fmt.Fprintln(stderr, "no task files found")
	}
	return code
}

// oneLine folds s onto one line of at most n bytes, for a table cell.
func oneLine(s string, n int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return string(r)
}

// specNext prints what a cycle's select step would pick:
//
//	auth-3: Render the form
//	  at specs/auth.md:11 (Auth > Login)
//
// When nothing is left it says so and exits 0: a finished spec is not an
// error, just a neutral cycle.
func specNext(file string, stdout, stderr io.Writer) int {
	src, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	s, err := spec.Parse(repoPath(file), src)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	o, ok := s.Next()
	if !ok {
		n := map[spec.State]int{}
		for _, st := range s.Status() {
			n[st.State]++
		}
		if n[spec.StateDone] == len(s.Obligations) {
			fmt.Fprintf(stdout, "nothing left: all %d obligations done\n", len(s.Obligations))
		} else {
			// Say what is left, so "done" is never claimed over optional
			// or in-progress work.
			fmt.Fprintf(stdout, "nothing to pick: %d done, %d optional, %d in progress, %d blocked\n",
				n[spec.StateDone], n[spec.StateOptional], n[spec.StateInProgress], n[spec.StateBlocked])
		}
		return 0
	}
	fmt.Fprintf(stdout, "%s: %s\n", o.ID, o.Text)
	if len(o.Headings) > 0 {
		fmt.Fprintf(stdout, "  at %s:%d (%s)\n", file, o.Line, strings.Join(o.Headings, " > "))
	} else {
		fmt.Fprintf(stdout, "  at %s:%d\n", file, o.Line)
	}
	return 0
}

// repoPath returns file relative to the root of the git work tree holding
// it, because derived ids hash the repo-relative path the bot sees: run
// from a subdirectory, "specloop spec next" must still print the same ids.
// Outside a work tree the path is used as given.
func repoPath(file string) string {
	abs, err := filepath.Abs(file)
	if err != nil {
		return file
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			if rel, err := filepath.Rel(dir, abs); err == nil {
				return filepath.ToSlash(rel)
			}
			return file
		}
		if parent := filepath.Dir(dir); parent == dir {
			return file
		}
	}
}
