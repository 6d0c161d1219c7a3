package jobs

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// registered is every `/loop` command in help order; a command dropped from,
// added to or moved in the registry fails these tests until it is listed here.
var registered = []struct {
	name, usage string
}{
	{"next", "run the next cycle: the next open obligation of the spec"},
	{"retry", "run the last failed cycle again"},
	{"stop", "cancel queued cycles and stop the running one"},
	{"fix", "run a fix cycle on the PR's branch with that instruction (no new obligation, nothing ticked)"},
	{"answer", "answer the question specloop asked; the next cycle gets it (a reply quoting the question works too)"},
	{"plan", "write the issue's task list first and wait for approval"},
	{"approve", "approve the plan; the cycles follow it as it stands in the issue"},
	{"token", "(admins) make a new token for the trigger URL, shown once through a one-time link"},
	{"status", "show the run: its cycles, their conclusions and the queue"},
	{"help", "show this help"},
}

func TestCommandsRegistered(t *testing.T) {
	t.Parallel()
	cmds := commands()
	require.Len(t, cmds, len(registered))
	require.Len(t, CommandNames(), len(registered))
	seen := map[string]bool{}
	for _, c := range cmds {
		require.False(t, seen[c.name], "%s registered twice", c.name)
		seen[c.name] = true
	}
	for i, want := range registered {
		t.Run(want.name, func(t *testing.T) {
			t.Parallel()
			c := cmds[i]
			require.Equal(t, want.name, c.name, "registration order")
			require.Equal(t, want.usage, c.usage)
			require.NotNil(t, c.run, "a handler")
			require.Equal(t, strings.ToLower(c.name), c.name, "ParseCommand folds case")
			require.Len(t, strings.Fields(c.name), 1, "one word")
			require.NotContains(t, c.usage, "\n", "one line")
			require.NotContains(t, c.usage, "|", "a table cell")
			require.Equal(t, want.name, CommandNames()[i])
			require.True(t, IsCommand(want.name))
			got, ok := lookupCommand(want.name)
			require.True(t, ok)
			require.Equal(t, want.name, got.name)
		})
	}
}

func TestIsCommandUnknown(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "dance", "NEXT", "next ", "/loop", "loop"} {
		require.False(t, IsCommand(name), "%q", name)
	}
}

func TestCommandSyntax(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cmd  command
		want string
	}{
		{command{name: "next"}, "/loop next"},
		{command{name: "fix", args: "<text>"}, "/loop fix <text>"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.cmd.syntax())
	}
}

func TestCommandHelp(t *testing.T) {
	t.Parallel()
	help := CommandHelp()
	// The generated help is the text `/loop help` replied before the registry.
	require.Equal(t, "**specloop commands** (on a specloop PR; you need write access):\n\n"+
		"| command | what it does |\n| --- | --- |\n"+
		"| `/loop next` | run the next cycle: the next open obligation of the spec |\n"+
		"| `/loop retry` | run the last failed cycle again |\n"+
		"| `/loop stop` | cancel queued cycles and stop the running one |\n"+
		"| `/loop fix <text>` | run a fix cycle on the PR's branch with that instruction (no new obligation, nothing ticked) |\n"+
		"| `/loop answer <text>` | answer the question specloop asked; the next cycle gets it (a reply quoting the question works too) |\n"+
		"| `/loop plan` | write the issue's task list first and wait for approval |\n"+
		"| `/loop approve` | approve the plan; the cycles follow it as it stands in the issue |\n"+
		"| `/loop token` | (admins) make a new token for the trigger URL, shown once through a one-time link |\n"+
		"| `/loop status` | show the run: its cycles, their conclusions and the queue |\n"+
		"| `/loop help` | show this help |\n", help)
	// Every registered command has a row, in registration order.
	last := -1
	for _, c := range commands() {
		row := "| `" + c.syntax() + "` | " + c.usage + " |\n"
		i := strings.Index(help, row)
		require.Greater(t, i, last, "row of %s after the one before", c.name)
		last = i
	}
}

func TestCommandList(t *testing.T) {
	t.Parallel()
	require.Equal(t, "`/loop next`, `/loop retry`, `/loop stop`, `/loop fix <text>`, `/loop answer <text>`, `/loop plan`, `/loop approve`, `/loop token`, `/loop status`, `/loop help`", CommandList())
	for _, want := range registered {
		require.Contains(t, CommandList(), "`/loop "+want.name)
	}
}

// TestCommandReplies: the worker's dispatch answers help and unknown
// commands with the generated help, without a run or a repo.
func TestCommandReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		command string
		want    string
	}{
		{"help", "\n\n" + CommandHelp()},
		{"dance", "`dance` is not a specloop command.\n\n" + CommandHelp()},
		{"", "`` is not a specloop command.\n\n" + CommandHelp()},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			t.Parallel()
			w := &CommandWorker{}
			got, err := w.dispatch(context.Background(), nil, CommandArgs{Command: tt.command}, nil)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestCommandsQueueCycle: only next, retry, fix, answer, plan and approve queue a cycle, so only their
// replies are not retried after "queued cycle".
func TestCommandsQueueCycle(t *testing.T) {
	t.Parallel()
	var queuing []string
	for _, c := range commands() {
		if c.queuesCycle {
			queuing = append(queuing, c.name)
		}
	}
	require.Equal(t, []string{"next", "retry", "fix", "answer", "plan", "approve"}, queuing)
}
