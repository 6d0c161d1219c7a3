package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/specloop/specloop/spec"
)

const specUsage = `usage:
  specloop spec lint FILE...   check specs; print each problem as file:line: msg
  specloop spec next FILE      print the obligation a cycle would work on next
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
	case cmd == "lint" && len(files) > 0:
		return specLint(ctx, files, stdout, stderr)
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
// them, and "ok FILE (N obligations, M open)" for each good one.
func specLint(ctx context.Context, files []string, stdout, stderr io.Writer) int {
	code := 0
	for _, file := range files {
		if err := ctx.Err(); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		src, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		if errs := spec.Lint(repoPath(file), src); len(errs) > 0 {
			for _, e := range errs {
				e.Path = file // as typed, so the terminal can open it
				fmt.Fprintln(stdout, e)
			}
			code = 1
			continue
		}
		s, err := spec.Parse(repoPath(file), src)
		if err != nil { // Lint said it was fine; this would be a bug
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		open := 0
		for _, o := range s.Obligations {
			if !o.Done {
				open++
			}
		}
		fmt.Fprintf(stdout, "ok %s (%d obligations, %d open)\n", file, len(s.Obligations), open)
	}
	return code
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
		fmt.Fprintf(stdout, "nothing left: all %d obligations done\n", len(s.Obligations))
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
