package repoconfig

import "fmt"

// The keys that close the loop (issue 14): on_review, on_ci_failure, plan
// and limits.ci_fixes.

// Values of on_review and on_ci_failure.
const (
	OnCycle = "cycle"
	OnNone  = "none"
)

// PlanApprove makes every run plan first and wait for approval.
const PlanApprove = "approve"

// DefaultCIFixes is limits.ci_fixes unless the config says otherwise.
const DefaultCIFixes = 2

// loopDefaults fills in the loop's keys and returns what is wrong.
func (c *Config) loopDefaults() []error {
	var errs []error
	for _, k := range []struct {
		name string
		v    *string
	}{{"on_review", &c.OnReview}, {"on_ci_failure", &c.OnCIFailure}} {
		switch *k.v {
		case "":
			*k.v = OnCycle
		case OnCycle, OnNone:
		default:
			errs = append(errs, fmt.Errorf("%s %q must be cycle or none", k.name, *k.v))
		}
	}
	switch c.Plan {
	case "", PlanApprove:
	default:
		errs = append(errs, fmt.Errorf("plan %q must be approve (or absent)", c.Plan))
	}
	if c.Limits.CIFixes == nil {
		n := DefaultCIFixes
		c.Limits.CIFixes = &n
	} else if *c.Limits.CIFixes < 0 || *c.Limits.CIFixes > 20 {
		errs = append(errs, fmt.Errorf("limits.ci_fixes %d must be between 0 and 20", *c.Limits.CIFixes))
	}
	return errs
}
