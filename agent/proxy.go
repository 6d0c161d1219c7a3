package agent

import "time"

// ProxyOptions opens one session of the model proxy: one agent run's
// credential, upstream and budget.
type ProxyOptions struct {
	Preset Preset
	// CredentialName and Credential are the worker's variable and its
	// value: the real key, which only the proxy holds.
	CredentialName, Credential string
	// Upstream is the API base the session forwards to, and nowhere else.
	Upstream string
	// BasePath is the path of the API base the sandbox is given ("/v1"
	// for OpenAI's); requests outside it are refused and it is replaced
	// by Upstream's path.
	BasePath string
	Budget   Budget
}

// Budget is what a session may spend: the limits and what the run and the
// repo's day have spent before it. A zero limit is no limit.
type Budget struct {
	Tokens      int64
	USD         float64
	USDDay      float64
	SpentTokens int64
	SpentUSD    float64
	SpentToday  float64
}

// ProxySession is one agent run's way through the model proxy.
type ProxySession interface {
	// Socket is the host path of the Unix socket the sandbox connects to.
	Socket() string
	// Key is the placeholder credential the sandbox is given instead of
	// the real one.
	Key() string
	// Calls are the requests forwarded so far, in order.
	Calls() []ModelCall
	// Exceeded names the limit a refused request hit ("limits.usd_per_run
	// (10 USD)"), or "" when none was.
	Exceeded() string
	Close() error
}

// ModelCall is one request through the model proxy, as recorded for the
// cycle's events and totals.
type ModelCall struct {
	// Role is the agent run that made it (set by the cycle).
	Role     Role          `json:"role,omitempty"`
	Path     string        `json:"path"`
	Status   int           `json:"status"`
	Model    string        `json:"model,omitempty"`
	Input    int           `json:"input_tokens"`
	Cached   int           `json:"cached_tokens"`
	Output   int           `json:"output_tokens"`
	CostUSD  float64       `json:"cost_usd"`
	Duration time.Duration `json:"duration"`
	// Refused names the limit that stopped the request, if one did.
	Refused string `json:"refused,omitempty"`
}

// SumCalls adds calls up; ok is false when no call reported any tokens.
func SumCalls(calls []ModelCall) (u Usage, cost float64, ok bool) {
	for _, c := range calls {
		u.Input += c.Input
		u.Cached += c.Cached
		u.Output += c.Output
		cost += c.CostUSD
	}
	u.Total = u.Input + u.Output
	return u, cost, u.Total > 0
}
