package app

import (
	"context"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	jwt "github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v62/github"
	"github.com/prometheus/client_golang/prometheus"
)

// Clients makes GitHub API clients: one authenticated as the app (JWT) and
// one per installation (installation tokens, refreshed before they expire).
// Every request they send is counted in specloop_github_requests_total.
type Clients struct {
	baseURL  *url.URL
	appID    int64
	key      *rsa.PrivateKey
	apps     *ghinstallation.AppsTransport
	base     http.RoundTripper
	routes   *routeTable
	requests *prometheus.CounterVec
	timeout  time.Duration
	policy   Policy
	logger   *slog.Logger
	clock    *githubClock

	mu    sync.Mutex
	insts map[int64]*ghinstallation.Transport
	// stateMu guards limits and caches (transport holds mu while it makes
	// an apps transport).
	stateMu sync.Mutex
	limits  map[string]*limits    // by installation label, shared across token refreshes
	caches  map[string]*etagCache // likewise
	// expiry is each installation's current token's expiry, as GitHub
	// said when it issued it (ghinstallation's own is read unlocked).
	expiry map[int64]time.Time
}

// ClientOption configures NewClients.
type ClientOption func(*clientOptions)

type clientOptions struct {
	registerer prometheus.Registerer
	timeout    time.Duration
	policy     Policy
	logger     *slog.Logger
}

// WithPolicy sets the client layer's retries and waits (DefaultPolicy).
func WithPolicy(p Policy) ClientOption {
	return func(o *clientOptions) { o.policy = p }
}

// WithLogger receives the client layer's warnings (rate-limit waits).
func WithLogger(l *slog.Logger) ClientOption {
	return func(o *clientOptions) { o.logger = l }
}

// RequestTimeout bounds each attempt of a GitHub request, token exchanges
// included, so a GitHub that stops answering fails the call instead of
// hanging a cycle.
const RequestTimeout = 30 * time.Second

// WithRequestTimeout sets the per-request timeout (RequestTimeout).
func WithRequestTimeout(d time.Duration) ClientOption {
	return func(o *clientOptions) { o.timeout = d }
}

// WithRegisterer registers specloop_github_requests_total with reg, so the
// server's /metrics shows it. Without it requests are still counted, for
// Requests, but exported nowhere.
func WithRegisterer(reg prometheus.Registerer) ClientOption {
	return func(o *clientOptions) { o.registerer = reg }
}

// NewClients builds the client factory for the app in cfg.
func NewClients(cfg *Config, opts ...ClientOption) (*Clients, error) {
	o := clientOptions{timeout: RequestTimeout, policy: DefaultPolicy}
	for _, opt := range opts {
		opt(&o)
	}
	u, err := url.Parse(cfg.GitHubAPIURL)
	if err != nil {
		return nil, fmt.Errorf("GITHUB_API_URL: %w", err)
	}
	requests, err := newRequestCounter(o.registerer)
	if err != nil {
		return nil, err
	}
	c := &Clients{
		baseURL:  u,
		appID:    cfg.AppID,
		key:      cfg.PrivateKey,
		routes:   newRouteTable(u, githubRoutes),
		requests: requests,
		timeout:  o.timeout,
		policy:   o.policy,
		logger:   o.logger,
		clock:    &githubClock{},
		insts:    map[int64]*ghinstallation.Transport{},
		limits:   map[string]*limits{},
		caches:   map[string]*etagCache{},
		expiry:   map[int64]time.Time{},
		base: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.apps = c.appsTransport(appInstallation)
	return c, nil
}

// appsTransport signs requests with the app's JWT (dated by GitHub's
// clock) and sends them through the client layer (transport.go) under
// installation's limits and cache, above the counter so every attempt is
// counted, token exchanges too.
func (c *Clients) appsTransport(installation string) *ghinstallation.AppsTransport {
	counted := &countingTransport{next: c.base, routes: c.routes, installation: installation, requests: c.requests}
	c.stateMu.Lock()
	lim, cache := c.limits[installation], c.caches[installation]
	if lim == nil {
		lim, cache = &limits{}, newETagCache(512)
		c.limits[installation], c.caches[installation] = lim, cache
	}
	c.stateMu.Unlock()
	layer := &resilient{next: counted, clock: c.clock, policy: c.policy, timeout: c.timeout, limits: lim, cache: cache, logger: c.logger, sleep: sleepCtx}
	if id, err := strconv.ParseInt(installation, 10, 64); err == nil {
		layer.issued = func(exp time.Time) {
			c.stateMu.Lock()
			c.expiry[id] = exp
			c.stateMu.Unlock()
		}
	}
	signer := skewSigner{inner: ghinstallation.NewRSASigner(jwt.SigningMethodRS256, c.key), clock: c.clock}
	t, err := ghinstallation.NewAppsTransportWithOptions(layer, c.appID, ghinstallation.WithSigner(signer))
	if err != nil {
		// Only a missing key fails here; NewClients is given one.
		panic(fmt.Sprintf("apps transport: %v", err))
	}
	t.BaseURL = trimSlash(c.baseURL.String())
	return t
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// client wraps rt for go-github. The http.Client has no timeout of its
// own: each attempt has one (the client layer), and a rate limit may be
// waited out for longer.
func (c *Clients) client(rt http.RoundTripper) *github.Client {
	gh := github.NewClient(&http.Client{Transport: rt})
	gh.BaseURL = c.baseURL
	return gh
}

// App is a client authenticated as the app itself.
func (c *Clients) App() *github.Client { return c.client(c.apps) }

func (c *Clients) transport(installationID int64) *ghinstallation.Transport {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.insts[installationID]
	if !ok {
		// An apps transport of its own counts the installation's token
		// exchanges under its id, and ghinstallation writes to it on every
		// refresh, which installations sharing one would race on.
		t = ghinstallation.NewFromAppsTransport(c.appsTransport(strconv.FormatInt(installationID, 10)), installationID)
		c.insts[installationID] = t
	}
	return t
}

// Installation is a client acting as the app on one installation. Its
// token is checked against GitHub's clock before each request and fetched
// anew when it is about to expire, or when GitHub answers 401: a token is
// never held across a long cycle.
func (c *Clients) Installation(installationID int64) *github.Client {
	return c.client(&reauth{c: c, id: installationID})
}

// tokenMargin is how long before its expiry (by GitHub's clock) a token
// is replaced: longer than any push or request takes.
const tokenMargin = 5 * time.Minute

// current is the installation's transport, replaced first if its token
// expires within tokenMargin by GitHub's clock.
func (c *Clients) current(installationID int64) *ghinstallation.Transport {
	t := c.transport(installationID)
	c.stateMu.Lock()
	exp, ok := c.expiry[installationID]
	c.stateMu.Unlock()
	if ok && exp.Before(c.clock.now().Add(tokenMargin)) {
		return c.replace(installationID, t)
	}
	return t
}

// replace drops a transport whose token GitHub no longer takes (unless
// another request replaced it already) and returns the new one.
func (c *Clients) replace(installationID int64, old *ghinstallation.Transport) *ghinstallation.Transport {
	c.mu.Lock()
	if c.insts[installationID] == old {
		delete(c.insts, installationID)
		c.stateMu.Lock()
		delete(c.expiry, installationID)
		c.stateMu.Unlock()
	}
	c.mu.Unlock()
	return c.transport(installationID)
}

// reauth sends an installation's requests with a current token, and once
// more with a new one when GitHub answers 401 (a token revoked, or expired
// by a clock that drifted).
type reauth struct {
	c  *Clients
	id int64
}

func (r *reauth) RoundTrip(req *http.Request) (*http.Response, error) {
	t := r.c.current(r.id)
	resp, err := t.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	again, rerr := replay(req, req.Context())
	if rerr != nil {
		return resp, nil
	}
	drain(resp)
	return r.c.replace(r.id, t).RoundTrip(again)
}

// Token returns a current installation token, for git over HTTPS, fetched
// anew if it expires within tokenMargin by GitHub's clock. It never enters
// a sandbox: pushes happen outside.
func (c *Clients) Token(ctx context.Context, installationID int64) (string, error) {
	tok, err := c.current(installationID).Token(ctx)
	if err != nil {
		return "", fmt.Errorf("installation %d token: %w", installationID, err)
	}
	return tok, nil
}
