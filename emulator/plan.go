package emulator

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Plan is an account's GitHub plan. Only what it changes is emulated:
// draft pull requests need a paid plan in private repositories.
type Plan string

const (
	PlanFree       Plan = "free"
	PlanPro        Plan = "pro"
	PlanTeam       Plan = "team"
	PlanEnterprise Plan = "enterprise"
)

// SetPlan puts an owner on a plan. Owners default to Options.DefaultPlan
// (PlanFree unless set, as on GitHub).
func (s *Server) SetPlan(owner string, p Plan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans[strings.ToLower(owner)] = p
}

func (s *Server) planLocked(owner string) Plan {
	if p, ok := s.plans[strings.ToLower(owner)]; ok {
		return p
	}
	if s.opts.DefaultPlan != "" {
		return s.opts.DefaultPlan
	}
	return PlanFree
}

// draftsRefusedLocked says whether GitHub refuses draft PRs in rp: private
// repositories of owners on the Free plan.
func (s *Server) draftsRefusedLocked(rp *repo) bool {
	return rp.private && s.planLocked(rp.owner) == PlanFree
}

// alwaysDelivered are events every GitHub App receives, subscribed or not.
var alwaysDelivered = []string{"installation", "installation_repositories", "github_app_authorization", "ping"}

// ManifestEvents reads the events a GitHub App manifest (app.yml)
// subscribes to, for Options.Events.
func ManifestEvents(manifest []byte) ([]string, error) {
	var m struct {
		DefaultEvents []string `yaml:"default_events"`
	}
	if err := yaml.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("emulator: read the manifest's events: %w", err)
	}
	return m.DefaultEvents, nil
}

// subscribed says whether the app receives event. Without Options.Events
// every event is delivered: a test of one webhook need not list it.
func (s *Server) subscribed(event string) bool {
	if s.opts.Events == nil {
		return true
	}
	for _, e := range alwaysDelivered {
		if e == event {
			return true
		}
	}
	for _, e := range s.events() {
		if e == event {
			return true
		}
	}
	return false
}

// defaultEvents are what GET /app reports for an emulator made without
// Options.Events: specloop's own app.yml's.
var defaultEvents = []string{"check_run", "check_suite", "issue_comment", "issues", "pull_request", "push"}

func (s *Server) events() []string {
	if s.opts.Events != nil {
		return s.opts.Events
	}
	return defaultEvents
}
