package spec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		authSpec,
		crlf(authSpec),
		"---\nverify: x\nafter: [a]\n---\n- [ ] [a] one\n  - [x] two (after: a)\n",
		"---\n- [ ] x\n",
		"> - [ ] q\n>   - [ ] r\n",
		"1. [ ]\n2. [x] [b]\n",
		"Title\n===\n- [\t] tab\n",
		"- [ ] [a] x (after: a)\n",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		errs := Lint("f.md", []byte(src))
		for _, e := range errs {
			require.Positive(t, e.Line, "%v", e)
		}
		s, _ := parse("f.md", []byte(src), false, "")
		require.NotEmpty(t, s.Obligations)
		s.Status()
		s.Next()

		o := s.Obligations[0]
		out, err := Tick("f.md", []byte(src), o.ID)
		if o.Box < 0 {
			require.ErrorIs(t, err, ErrNoCheckbox)
			return
		}
		require.NoError(t, err)
		require.Len(t, out, len(src))
		diff := 0
		for i := range out {
			if out[i] != src[i] {
				diff++
				require.Equal(t, o.Box+1, i)
				require.Equal(t, byte('x'), out[i])
			}
		}
		require.LessOrEqual(t, diff, 1)
		if !o.Done {
			require.Equal(t, 1, diff)
			ticked, _ := parse("f.md", out, false, "")
			require.NotNil(t, ticked.Obligation(o.ID), "ticking must not change the id")
			require.True(t, ticked.Obligation(o.ID).Done)
		}
	})
}
