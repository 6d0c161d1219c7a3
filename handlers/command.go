package handlers

import (
	"strings"

	"github.com/specloop/specloop/jobs"
)

// Command is a parsed `/loop` comment.
type Command struct {
	Name string   // a registered command (jobs.CommandNames) or what the user typed, lower case
	Args []string // words after the name
}

// ParseCommand finds a `/loop` command in a comment body: the first
// non-blank line, skipping fenced code blocks and quoted lines, must start
// with `/loop`. A bare `/loop` is `help`. Every `/loop` word is returned,
// known or not: the command worker answers unknown ones with the help.
func ParseCommand(body string) (Command, bool) {
	inFence := false
	fence := ""
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		if inFence {
			if strings.HasPrefix(trimmed, fence) {
				inFence = false
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			inFence, fence = true, trimmed[:3]
			continue
		}
		if trimmed == "" || strings.HasPrefix(trimmed, ">") {
			continue
		}
		// Indented code blocks (four spaces or a tab) are code, not commands.
		if strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t") {
			continue
		}
		fields := strings.Fields(trimmed)
		if fields[0] != "/loop" {
			return Command{}, false
		}
		if len(fields) == 1 {
			return Command{Name: "help"}, true
		}
		return Command{Name: strings.ToLower(fields[1]), Args: fields[2:]}, true
	}
	return Command{}, false
}

// Known reports whether c names a command registered in jobs.
func (c Command) Known() bool { return jobs.IsCommand(c.Name) }
