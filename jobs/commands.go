package jobs

import (
	"context"
	"fmt"
	"strings"

	"github.com/specloop/specloop/store"
)

// command is one `/loop` command, registered with its help and its handler
// together, as Prow's plugins are: the help text, the PR body's command line
// and the intake's parsing all read the registry, so a command exists in one
// place.
type command struct {
	name  string // what follows `/loop`, lower case
	args  string // argument syntax after the name, e.g. "<text>"; "" for none
	usage string // one line for the help table
	run   commandFunc
	// queuesCycle: a reply that fails after "queued cycle ..." is not
	// retried, since the retry would queue a second cycle.
	queuesCycle bool
}

// commandFunc carries out a command and returns the reply. run is the
// issue's or PR's run, nil when there is none.
type commandFunc func(w *CommandWorker, ctx context.Context, rc *repoContext, a CommandArgs, run *store.Run) (string, error)

// commands is the registry, in help order. It is built on every call and
// never modified, so there is no package-level state to share.
func commands() []command {
	return []command{
		{name: "next", usage: "run the next cycle: the next open obligation of the spec", run: (*CommandWorker).next, queuesCycle: true},
		{name: "retry", usage: "run the last failed cycle again", run: (*CommandWorker).retry, queuesCycle: true},
		{name: "stop", usage: "cancel queued cycles and stop the running one", run: (*CommandWorker).stop},
		{name: "fix", args: "<text>", usage: "run a fix cycle on the PR's branch with that instruction (no new obligation, nothing ticked)", run: (*CommandWorker).fix, queuesCycle: true},
		{name: CommandAnswer, args: "<text>", usage: "answer the question specloop asked; the next cycle gets it (a reply quoting the question works too)", run: (*CommandWorker).answer, queuesCycle: true},
		{name: "plan", usage: "write the issue's task list first and wait for approval", run: (*CommandWorker).plan, queuesCycle: true},
		{name: "approve", usage: "approve the plan; the cycles follow it as it stands in the issue", run: (*CommandWorker).approve, queuesCycle: true},
		{name: "token", usage: "(admins) make a new token for the trigger URL, shown once through a one-time link", run: (*CommandWorker).token},
		{name: "status", usage: "show the run: its cycles, their conclusions and the queue", run: (*CommandWorker).status},
		{name: "help", usage: "show this help", run: (*CommandWorker).help},
	}
}

// CommandAnswer is the command that answers specloop's question; a reply
// quoting the question is routed as one.
const CommandAnswer = "answer"

// lookupCommand finds the registered command called name.
func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// syntax is how the command is typed, e.g. "/loop next".
func (c command) syntax() string {
	if c.args == "" {
		return "/loop " + c.name
	}
	return "/loop " + c.name + " " + c.args
}

// IsCommand reports whether name (lower case, without `/loop`) is a
// registered command.
func IsCommand(name string) bool {
	_, ok := lookupCommand(name)
	return ok
}

// CommandNames lists the registered commands' names in registration order.
func CommandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

// CommandHelp is the reply to `/loop help` and to unknown commands: a table
// of every registered command in registration order.
func CommandHelp() string {
	var b strings.Builder
	b.WriteString("**specloop commands** (on a specloop PR; you need write access):\n\n")
	b.WriteString("| command | what it does |\n| --- | --- |\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "| `%s` | %s |\n", c.syntax(), c.usage)
	}
	return b.String()
}

// CommandList is the commands for one line of prose, as the PR body lists
// them: "`/loop next`, `/loop retry`, ...".
func CommandList() string {
	var parts []string
	for _, c := range commands() {
		parts = append(parts, "`"+c.syntax()+"`")
	}
	return strings.Join(parts, ", ")
}

// unknownCommand is the reply to a `/loop` word no command is registered as.
func unknownCommand(name string) string {
	return fmt.Sprintf("`%s` is not a specloop command.\n\n%s", name, CommandHelp())
}
