package handlers

import (
	"strings"

	"github.com/specloop/specloop/jobs"
)

// Command is a parsed `/loop` comment.
type Command struct {
	Name string   // a registered command (jobs.CommandNames) or what the user typed, lower case
	Args []string // words after the name
	// Text is everything after the name, on its line and the lines below,
	// trimmed: the instruction of `/loop fix` and the answer of `/loop
	// answer`.
	Text string
}

// ParseCommand finds a `/loop` command in a comment body: the first
// non-blank line, skipping fenced code blocks and quoted lines, must start
// with `/loop`. A bare `/loop` is `help`. Every `/loop` word is returned,
// known or not: the command worker answers unknown ones with the help.
func ParseCommand(body string) (Command, bool) {
	inFence := false
	fence := ""
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	for i, line := range lines {
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
		after := strings.TrimSpace(trimmed[len(fields[0]):])
		rest := strings.TrimSpace(after[len(fields[1]):])
		text := strings.TrimSpace(rest + "\n" + strings.Join(lines[i+1:], "\n"))
		return Command{Name: strings.ToLower(fields[1]), Args: fields[2:], Text: text}, true
	}
	return Command{}, false
}

// Known reports whether c names a command registered in jobs.
func (c Command) Known() bool { return jobs.IsCommand(c.Name) }

// QuotedReply splits a comment that is not a command into the lines it
// quotes ("> ...", as GitHub's "Quote reply" writes them) and the rest,
// the reply; ok is false when it quotes nothing or says nothing else. A
// maintainer answers specloop's question this way.
func QuotedReply(body string) (quote, reply string, ok bool) {
	var q, r []string
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, ">") {
			q = append(q, strings.TrimSpace(strings.TrimLeft(t, "> ")))
			continue
		}
		r = append(r, line)
	}
	quote, reply = strings.TrimSpace(strings.Join(q, "\n")), strings.TrimSpace(strings.Join(r, "\n"))
	return quote, reply, quote != "" && reply != ""
}
