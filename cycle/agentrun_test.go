package cycle

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/state"
)

// TestLongAgentOutputKeepsTheEnd: an agent whose stream is far longer than
// the output cap still gets its usage and cost read, because the cap keeps
// the head and the tail, where a Claude stream ends with its result.
func TestLongAgentOutputKeepsTheEnd(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	require.NoError(t, os.Chmod(parent, 0o755))
	script := `mkdir -p impl && echo x > impl/a.txt
i=0; while [ $i -lt 60000 ]; do echo '{"type":"assistant","message":{"content":[{"type":"text","text":"thinking out loud, line after line"}]}}'; i=$((i+1)); done
echo '{"type":"result","subtype":"success","is_error":false,"result":"done","total_cost_usd":0.4321,"usage":{"input_tokens":120,"cache_read_input_tokens":880,"cache_creation_input_tokens":0,"output_tokens":75}}'
`
	files := map[string]string{
		"specs/demo.md":        demoSpec(""),
		"agent.sh":             script,
		".github/specloop.yml": "agent: {command: sh agent.sh, network: none}\naudit: false\nverify: {command: \"true\"}\n",
	}
	wd := newWorkdir(t, filepath.Join(parent, "long"), files, nil)
	res, _ := scriptedCycle(t, newEngine(t, nil), wd, files)
	require.Equal(t, state.Success, res.Conclusion, res.Summary)
	impl := res.Step(StepImplement)
	require.Greater(t, 60000*100, 1<<20, "the stream is longer than the cap")
	require.Contains(t, impl.Summary, "| tokens | 1000 in (880 cached), 75 out, 1075 total, as the agent reported |")
	require.Contains(t, impl.Summary, "| cost | $0.4321 |")
	require.Contains(t, string(impl.Log), `"total_cost_usd":0.4321`, "the stored log keeps the tail")
	require.Contains(t, string(impl.Log), "bytes elided", "and says what it left out")
}
