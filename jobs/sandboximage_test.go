package jobs

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/sandbox"
	"github.com/specloop/specloop/state"
)

// imageDriver records the image each sandboxed run was asked to run from.
type imageDriver struct {
	sandbox.Driver
	mu     sync.Mutex
	images []string
}

func (d *imageDriver) Run(ctx context.Context, s sandbox.Spec) (sandbox.Result, error) {
	d.mu.Lock()
	d.images = append(d.images, sandbox.ImageFrom(ctx))
	d.mu.Unlock()
	return d.Driver.Run(ctx, s)
}

// A repo's sandbox.image runs only where the operator allows it
// (KUBE_IMAGES): refused, the cycle fails and the specloop/config check
// names the image and the setting to change; allowed, every sandboxed run
// of the cycle is asked to run from it.
func TestSandboxImage(t *testing.T) {
	t.Parallel()
	const image = "ghcr.io/acme/sandbox:1.4"
	for _, tc := range []struct {
		name  string
		allow []string
		want  string // in the config check; "" when allowed
	}{
		{name: "no allow-list", want: `sandbox.image "` + image + `": this installation runs no per-repo sandbox images; its operator allows them with the worker setting KUBE_IMAGES`},
		{name: "not listed", allow: []string{"ghcr.io/acme/other:1", "ghcr.io/acme-tools/"}, want: `sandbox.image "` + image + `" is not among the images this installation allows (KUBE_IMAGES=ghcr.io/acme/other:1,ghcr.io/acme-tools/)`},
		{name: "exact", allow: []string{image}},
		{name: "path prefix", allow: []string{"ghcr.io/acme/"}},
		{name: "any tag", allow: []string{"ghcr.io/acme/sandbox:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var drv *imageDriver
			h := newHarness(t, specRepo(passingConfig+"sandbox: {image: \""+image+"\"}\n"), func(c *Config) {
				c.SandboxImages = tc.allow
				r := c.Engine.Runner.(cycle.SandboxRunner)
				drv = &imageDriver{Driver: r.Driver}
				r.Driver = drv
				c.Engine.Runner = r
			})
			run := h.specRun("specs/widgets.md", widgetsBranch)
			c := h.queued(run.ID, "push")
			mustWork(h, h.cycleW(), CycleArgs{CycleID: c.ID})
			got := h.cycle(c.ID)
			if tc.want != "" {
				require.Equal(t, state.Failure, got.Conclusion)
				require.True(t, strings.HasPrefix(got.Summary, "Could not read the repository or its config"), got.Summary)
				checks := h.checkRuns("")
				require.Len(t, checks, 1)
				require.Equal(t, "specloop/config", checks[0].GetName())
				require.Equal(t, string(state.Failure), checks[0].GetConclusion())
				require.Contains(t, checks[0].GetOutput().GetSummary(), tc.want)
				require.Empty(t, drv.images, "nothing ran")
				return
			}
			require.Equal(t, state.Success, got.Conclusion, got.Summary)
			drv.mu.Lock()
			defer drv.mu.Unlock()
			require.NotEmpty(t, drv.images)
			for _, img := range drv.images {
				require.Equal(t, image, img, "every sandboxed run of the cycle")
			}
		})
	}
}
