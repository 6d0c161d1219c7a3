package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMirrorMaxBytes: MIRROR_MAX_BYTES takes bytes or a unit; unset or 0
// is unbounded; anything else is refused, naming the setting.
func TestMirrorMaxBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  int64
		err   string
	}{
		{"", 0, ""},
		{"0", 0, ""},
		{"1048576", 1 << 20, ""},
		{"512B", 512, ""},
		{"10GiB", 10 << 30, ""},
		{"10 GiB", 10 << 30, ""},
		{"3MiB", 3 << 20, ""},
		{"2KiB", 2 << 10, ""},
		{"1TiB", 1 << 40, ""},
		{"500MB", 500e6, ""},
		{"5kB", 5e3, ""},
		{"2GB", 2e9, ""},
		{"1TB", 1e12, ""},
		{"-1", 0, "like 10GiB"},
		{"+5", 0, "like 10GiB"},
		{"1.5GiB", 0, "like 10GiB"},
		{"GiB", 0, "like 10GiB"},
		{"ten", 0, "like 10GiB"},
		{"10XB", 0, "like 10GiB"},
		{"9999999999TiB", 0, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			c, err := Load(func(k string) string {
				if k == "MIRROR_MAX_BYTES" {
					return tt.value
				}
				return ""
			})
			if tt.err != "" {
				require.ErrorContains(t, err, "MIRROR_MAX_BYTES")
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, c.MirrorMaxBytes)
		})
	}
}

// TestLoadLeaseTTL: LEASE_TTL is a Go duration over MinLeaseTTL, 30 s when
// unset; anything else is refused, naming the variable.
func TestLoadLeaseTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value   string
		want    time.Duration
		wantErr string
	}{
		{value: "", want: DefaultLeaseTTL},
		{value: "45s", want: 45 * time.Second},
		{value: "2m", want: 2 * time.Minute},
		{value: "3500ms", want: 3500 * time.Millisecond},
		{value: "3s", wantErr: `LEASE_TTL "3s" is not a duration over 3s`},
		{value: "1s", wantErr: `LEASE_TTL "1s" is not a duration over 3s`},
		{value: "-30s", wantErr: `LEASE_TTL "-30s" is not a duration over 3s`},
		{value: "30", wantErr: `LEASE_TTL "30" is not a duration over 3s: use one like 30s`},
		{value: "soon", wantErr: `LEASE_TTL "soon" is not a duration over 3s`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"LEASE_TTL": tc.value}
			c, err := Load(func(k string) string { return env[k] })
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c.LeaseTTL)
		})
	}
}

// TestLoadKubeReapEvery: KUBE_REAP_EVERY is a Go duration of a second or
// more, unset leaving the jobs' default; anything else is refused, naming
// the variable.
func TestLoadKubeReapEvery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value   string
		want    time.Duration
		wantErr string
	}{
		{value: "", want: 0},
		{value: "30s", want: 30 * time.Second},
		{value: "5m", want: 5 * time.Minute},
		{value: "500ms", wantErr: `KUBE_REAP_EVERY "500ms" is not a duration of 1s or more`},
		{value: "30", wantErr: `KUBE_REAP_EVERY "30" is not a duration of 1s or more: use one like 30s`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"KUBE_REAP_EVERY": tc.value}
			c, err := Load(func(k string) string { return env[k] })
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c.KubeReapEvery)
		})
	}
}

// TestLoadSandboxTools: SANDBOX_TOOLS lists absolute paths separated by
// ':' (empty entries ignored); a relative one is refused, naming it.
func TestLoadSandboxTools(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value   string
		want    []string
		wantErr string
	}{
		{value: "", want: nil},
		{value: "/opt/codex", want: []string{"/opt/codex"}},
		{value: "/opt/codex/bin/:/usr/local/lib/node::", want: []string{"/opt/codex/bin", "/usr/local/lib/node"}},
		{value: "/opt/a:bin", wantErr: `SANDBOX_TOOLS: "bin" is not an absolute path`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"SANDBOX_TOOLS": tc.value}
			c, err := Load(func(k string) string { return env[k] })
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c.SandboxTools)
		})
	}
}

// TestSandboxMemory: SANDBOX_MEMORY defaults to DefaultSandboxMemory, takes
// a size, and refuses what is no size or too small to run an agent.
func TestSandboxMemory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  int64
		err   bool
	}{
		{"", DefaultSandboxMemory, false},
		{"8GiB", 8 << 30, false},
		{"512MiB", 512 << 20, false},
		{"1MiB", 0, true},
		{"0", 0, true},
		{"lots", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			c, err := Load(func(k string) string {
				if k == "SANDBOX_MEMORY" {
					return tt.value
				}
				return ""
			})
			if tt.err {
				require.ErrorContains(t, err, "SANDBOX_MEMORY")
				require.ErrorContains(t, err, "want a size of at least 64MiB")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, c.SandboxMemory)
		})
	}
}
