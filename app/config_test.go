package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

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
