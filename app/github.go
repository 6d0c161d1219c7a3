package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v62/github"
)

// Clients makes GitHub API clients: one authenticated as the app (JWT) and
// one per installation (installation tokens, refreshed before they expire).
type Clients struct {
	baseURL *url.URL
	apps    *ghinstallation.AppsTransport
	base    http.RoundTripper

	mu    sync.Mutex
	insts map[int64]*ghinstallation.Transport
}

// NewClients builds the client factory for the app in cfg.
func NewClients(cfg *Config) (*Clients, error) {
	u, err := url.Parse(cfg.GitHubAPIURL)
	if err != nil {
		return nil, fmt.Errorf("GITHUB_API_URL: %w", err)
	}
	base := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	apps := ghinstallation.NewAppsTransportFromPrivateKey(base, cfg.AppID, cfg.PrivateKey)
	apps.BaseURL = trimSlash(cfg.GitHubAPIURL)
	return &Clients{baseURL: u, apps: apps, base: base, insts: map[int64]*ghinstallation.Transport{}}, nil
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

func (c *Clients) client(rt http.RoundTripper) *github.Client {
	gh := github.NewClient(&http.Client{Transport: rt, Timeout: 60 * time.Second})
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
		t = ghinstallation.NewFromAppsTransport(c.apps, installationID)
		t.BaseURL = c.apps.BaseURL
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
	tok, err := c.transport(installationID).Token(ctx)
	if err != nil {
		return "", fmt.Errorf("installation %d token: %w", installationID, err)
	}
	return tok, nil
}
