package app

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/specloop/specloop/attest"
)

// Config is the server's configuration, read from the environment with
// Probot-style names.
type Config struct {
	AppID         int64
	PrivateKey    *rsa.PrivateKey
	PrivateKeyPEM []byte
	WebhookSecret string
	// WebhookSecretPrevious is still accepted during a secret rotation.
	WebhookSecretPrevious string
	DatabaseURL           string
	GitHubAPIURL          string
	Port                  int
	PublicURL             string
	Workers               int
	Sandbox               string
	LogLevel              slog.Level
	Retention             time.Duration
	MirrorDir             string
	// ShutdownGrace is how long a stopping worker lets its cycles finish
	// before it hands them over to another worker.
	ShutdownGrace time.Duration
	// MirrorMaxBytes bounds the disk use of MIRROR_DIR's mirrors and
	// pristine checkouts (MIRROR_MAX_BYTES); 0 means unbounded.
	MirrorMaxBytes int64
	// LeaseTTL is how long a cycle's lease lasts without a heartbeat: a
	// worker that stops beating loses its cycle this soon.
	LeaseTTL time.Duration
	// KubeReapEvery is how often each worker deletes the sandbox pods of
	// cycles no live worker holds (KUBE_REAP_EVERY, SANDBOX=kubernetes); 0
	// takes jobs.SandboxReapEvery.
	KubeReapEvery time.Duration
	// KubeImages allows repos' sandbox.image (KUBE_IMAGES, comma-separated
	// image references, or prefixes ending in / or :); empty refuses them
	// (repoconfig.ImageAllowed).
	KubeImages []string
	// OperatorToken guards GET /runs and /riverui (OPERATOR_TOKEN); empty
	// turns both off.
	OperatorToken string
	// EvidenceKeys sign statements of what ran (EVIDENCE_KEY) and verify
	// them (with EVIDENCE_KEY_PREVIOUS); never nil after Load, Current
	// nil without EVIDENCE_KEY.
	EvidenceKeys        *attest.Keys
	evidenceKeyRaw      string
	evidencePreviousRaw []string
	// SandboxTools are host paths (agent CLIs, their runtimes) bound
	// read-only into every sandbox (SANDBOX_TOOLS, colon-separated like
	// PATH).
	SandboxTools []string
	// SandboxMemory is the memory one sandboxed run may use, all its
	// processes together (SANDBOX_MEMORY, default DefaultSandboxMemory),
	// where the sandbox has a memory cgroup: see SANDBOX_CGROUP.
	SandboxMemory int64
	// SandboxCgroup is the cgroup v2 directory delegated to the worker for
	// its runs' cgroups (SANDBOX_CGROUP): empty for the worker's own,
	// "off" for none.
	SandboxCgroup string
}

// DefaultSandboxMemory is SANDBOX_MEMORY's default: room for an agent CLI
// and a test suite it runs.
const DefaultSandboxMemory int64 = 4 << 30

// SandboxMemory reads SANDBOX_MEMORY through getenv: DefaultSandboxMemory
// when unset, else a size of at least 64 MiB. Load, `specloop cycle` and
// `specloop doctor` read it alike.
func SandboxMemory(getenv Getenv) (int64, error) {
	v := getenv("SANDBOX_MEMORY")
	if v == "" {
		return DefaultSandboxMemory, nil
	}
	n, err := ParseBytes(v)
	if err != nil || n < 64<<20 {
		return 0, fmt.Errorf("SANDBOX_MEMORY %q: want a size of at least 64MiB, such as 4GiB", v)
	}
	return n, nil
}

// Getenv is how Load reads the environment; tests pass a map's lookup.
type Getenv func(string) string

// DefaultRetention is how long events and artifacts are kept when
// RETENTION is not set.
const DefaultRetention = 30 * 24 * time.Hour

// DefaultShutdownGrace stays under Kubernetes' default 30 s termination
// grace period, so a stopping pod hands its cycles over before it is
// killed.
const DefaultShutdownGrace = 25 * time.Second

// DefaultLeaseTTL is a cycle's lease when LEASE_TTL is not set;
// MinLeaseTTL is the shortest accepted, since heartbeats come every
// LeaseTTL/3 and each is a database round trip.
const (
	DefaultLeaseTTL = 30 * time.Second
	MinLeaseTTL     = 3 * time.Second
)

// Load reads and validates the configuration. need lists what the
// subcommand requires ("webhook", "app", "database"); anything missing or
// unusable is an error naming the variable and what to do.
func Load(getenv Getenv, need ...string) (*Config, error) {
	c := &Config{
		GitHubAPIURL:  "https://api.github.com/",
		Port:          3000,
		Workers:       2,
		Sandbox:       "bwrap",
		Retention:     DefaultRetention,
		ShutdownGrace: DefaultShutdownGrace,
		LeaseTTL:      DefaultLeaseTTL,
	}
	needs := map[string]bool{}
	for _, n := range need {
		needs[n] = true
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	c.WebhookSecret = getenv("WEBHOOK_SECRET")
	c.WebhookSecretPrevious = getenv("WEBHOOK_SECRET_PREVIOUS")
	if needs["webhook"] && c.WebhookSecret == "" {
		fail("WEBHOOK_SECRET is not set: set it to the webhook secret of your GitHub App")
	}
	if v := getenv("APP_ID"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			fail("APP_ID %q is not a positive number: set it to your GitHub App's numeric id", v)
		}
		c.AppID = id
	} else if needs["app"] {
		fail("APP_ID is not set: set it to your GitHub App's numeric id")
	}
	if err := c.loadKey(getenv, needs["app"]); err != nil {
		errs = append(errs, err)
	}
	c.DatabaseURL = getenv("DATABASE_URL")
	if needs["database"] && c.DatabaseURL == "" {
		fail("DATABASE_URL is not set: set it to a PostgreSQL URL, e.g. postgres://user:pass@host:5432/specloop")
	}
	if v := getenv("GITHUB_API_URL"); v != "" {
		u, err := url.Parse(v)
		if err != nil || u.Scheme == "" || u.Host == "" {
			fail("GITHUB_API_URL %q is not an absolute URL", v)
		} else {
			c.GitHubAPIURL = strings.TrimSuffix(v, "/") + "/"
		}
	}
	if v := getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			fail("PORT %q is not a port number", v)
		}
		c.Port = p
	}
	c.OperatorToken = getenv("OPERATOR_TOKEN")
	c.PublicURL = strings.TrimSuffix(getenv("PUBLIC_URL"), "/")
	if c.PublicURL == "" {
		c.PublicURL = fmt.Sprintf("http://localhost:%d", c.Port)
	}
	if v := getenv("WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail("WORKERS %q is not a count", v)
		}
		c.Workers = n
	}
	if v := getenv("SANDBOX"); v != "" {
		switch v {
		case "bwrap", "docker", "kubernetes", "none":
			c.Sandbox = v
		default:
			fail("SANDBOX %q is not a driver: use bwrap, docker, kubernetes or none", v)
		}
	}
	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			fail("LOG_LEVEL %q is not a level: use debug, info, warn or error", v)
		}
	}
	if v := getenv("RETENTION"); v != "" {
		d, err := parseRetention(v)
		if err != nil {
			fail("RETENTION %q: %v", v, err)
		}
		c.Retention = d
	}
	if v := getenv("SHUTDOWN_GRACE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			fail("SHUTDOWN_GRACE %q is not a duration like 25s", v)
		}
		c.ShutdownGrace = d
	}
	if v := getenv("LEASE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= MinLeaseTTL {
			fail("LEASE_TTL %q is not a duration over %s: use one like 30s", v, MinLeaseTTL)
		}
		c.LeaseTTL = d
	}
	if v := getenv("KUBE_REAP_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			fail("KUBE_REAP_EVERY %q is not a duration of 1s or more: use one like 30s", v)
		}
		c.KubeReapEvery = d
	}
	for _, img := range strings.Split(getenv("KUBE_IMAGES"), ",") {
		if img = strings.TrimSpace(img); img != "" {
			c.KubeImages = append(c.KubeImages, img)
		}
	}
	c.MirrorDir = getenv("MIRROR_DIR")
	if c.MirrorDir == "" {
		c.MirrorDir = os.TempDir() + "/specloop-mirrors"
	}
	if n, err := SandboxMemory(getenv); err != nil {
		fail("%v", err)
	} else {
		c.SandboxMemory = n
	}
	if v := getenv("SANDBOX_CGROUP"); v != "" && v != "off" && !filepath.IsAbs(v) {
		fail("SANDBOX_CGROUP %q: want the absolute path of a cgroup v2 directory delegated to the worker, or off", v)
	}
	c.SandboxCgroup = getenv("SANDBOX_CGROUP")
	if v := getenv("MIRROR_MAX_BYTES"); v != "" {
		n, err := ParseBytes(v)
		if err != nil {
			fail("MIRROR_MAX_BYTES %q: %v", v, err)
		}
		c.MirrorMaxBytes = n
	}
	errs = append(errs, c.loadEvidenceKeys(getenv("EVIDENCE_KEY"), getenv("EVIDENCE_KEY_PREVIOUS"))...)
	if v := getenv("SANDBOX_TOOLS"); v != "" {
		for _, p := range strings.Split(v, ":") {
			if p == "" {
				continue
			}
			if !filepath.IsAbs(p) {
				fail("SANDBOX_TOOLS: %q is not an absolute path: list absolute paths separated by ':'", p)
				continue
			}
			c.SandboxTools = append(c.SandboxTools, filepath.Clean(p))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// byteUnits are the suffixes ParseBytes accepts, longest first so "GiB"
// is not read as "B".
var byteUnits = []struct {
	suffix string
	size   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseBytes reads a size: a whole number of bytes, optionally with a unit
// (B, KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of
// 1024), as in "10GiB" or "500MB".
func ParseBytes(v string) (int64, error) {
	bad := errors.New(`use a whole number of bytes, optionally with a unit, like 10GiB or 500MB`)
	num, unit := strings.TrimSpace(v), int64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, unit = strings.TrimSpace(n), u.size
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || num[0] == '+' {
		return 0, bad
	}
	if n > math.MaxInt64/unit {
		return 0, errors.New("too large")
	}
	return n * unit, nil
}

// parseRetention accepts Go durations and whole days ("30d").
func parseRetention(v string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, errors.New("use a duration like 720h or a number of days like 30d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	dur, err := time.ParseDuration(v)
	if err != nil || dur <= 0 {
		return 0, errors.New("use a duration like 720h or a number of days like 30d")
	}
	return dur, nil
}

func (c *Config) loadKey(getenv Getenv, required bool) error {
	raw := getenv("PRIVATE_KEY")
	source := "PRIVATE_KEY"
	if raw == "" {
		if path := getenv("PRIVATE_KEY_PATH"); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("PRIVATE_KEY_PATH: read the app's private key: %w", err)
			}
			raw, source = string(b), "PRIVATE_KEY_PATH "+path
		}
	}
	if raw == "" {
		if required {
			return errors.New("PRIVATE_KEY or PRIVATE_KEY_PATH is not set: give the GitHub App's private key (.pem)")
		}
		return nil
	}
	// Hosting dashboards often flatten newlines to "\n".
	raw = strings.ReplaceAll(raw, `\n`, "\n")
	key, err := ParsePrivateKey([]byte(raw))
	if err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	c.PrivateKey, c.PrivateKeyPEM = key, []byte(raw)
	return nil
}

// ParsePrivateKey parses an RSA private key in PEM (PKCS#1 or PKCS#8).
func ParsePrivateKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("not a PEM-encoded RSA private key: download the .pem from the app's settings page")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an RSA private key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("the private key is not RSA: GitHub Apps use RSA keys")
	}
	return rk, nil
}

// Secrets lists the values that must never appear in logs, evidence or a
// sandbox: the redactor masks each of them.
func (c *Config) Secrets() []string {
	var s []string
	for _, w := range []string{c.WebhookSecret, c.WebhookSecretPrevious} {
		if w != "" {
			s = append(s, w)
		}
	}
	if len(c.PrivateKeyPEM) > 0 {
		s = append(s, strings.TrimSpace(string(c.PrivateKeyPEM)))
	}
	if c.OperatorToken != "" {
		s = append(s, c.OperatorToken)
	}
	if c.evidenceKeyRaw != "" {
		s = append(s, c.evidenceKeyRaw)
	}
	s = append(s, c.evidencePreviousRaw...)
	if c.DatabaseURL != "" {
		s = append(s, c.DatabaseURL)
		if u, err := url.Parse(c.DatabaseURL); err == nil {
			if p, ok := u.User.Password(); ok && p != "" {
				s = append(s, p)
			}
		}
	}
	return s
}
