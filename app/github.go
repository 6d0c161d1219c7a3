package app

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
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

	mu    sync.Mutex
	insts map[int64]*ghinstallation.Transport
}

// ClientOption configures NewClients.
type ClientOption func(*clientOptions)

type clientOptions struct {
	registerer prometheus.Registerer
	timeout    time.Duration
}

// RequestTimeout bounds each GitHub request, token exchanges included, so
// a GitHub that stops answering fails the call instead of hanging a cycle.
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
	o := clientOptions{timeout: RequestTimeout}
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
		insts:    map[int64]*ghinstallation.Transport{},
		base: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	c.apps = c.appsTransport(appInstallation)
	return c, nil
}

// appsTransport signs requests with the app's JWT and counts them under
// installation, below the auth layers so token exchanges are counted too.
func (c *Clients) appsTransport(installation string) *ghinstallation.AppsTransport {
	counted := &countingTransport{next: c.base, routes: c.routes, installation: installation, requests: c.requests}
	t := ghinstallation.NewAppsTransportFromPrivateKey(counted, c.appID, c.key)
	t.BaseURL = trimSlash(c.baseURL.String())
	return t
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func (c *Clients) client(rt http.RoundTripper) *github.Client {
	gh := github.NewClient(&http.Client{Transport: rt, Timeout: c.timeout})
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

// Installation is a client acting as the app on one installation.
func (c *Clients) Installation(installationID int64) *github.Client {
	return c.client(c.transport(installationID))
}

// Token returns a current installation token, for git over HTTPS. It never
// enters a sandbox: pushes happen outside.
func (c *Clients) Token(ctx context.Context, installationID int64) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	tok, err := c.transport(installationID).Token(ctx)
	if err != nil {
		return "", fmt.Errorf("installation %d token: %w", installationID, err)
	}
	return tok, nil
}
