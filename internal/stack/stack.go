package stack

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/specloop/specloop"
	"github.com/specloop/specloop/agent/scripted"
	"github.com/specloop/specloop/app"
	"github.com/specloop/specloop/attest"
	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/internal/pgtemp"
)

// Stack is the whole product on one machine: a database, the GitHub
// emulator with a seeded repo and two users, and specloop wired to both.
type Stack struct {
	Emulator *emulator.Server
	// Clock is the emulator's: advancing it expires installation tokens.
	Clock        *emulator.Clock
	Server       *Server
	URL          string // specloop's base URL
	Owner, Repo  string
	Tokens       map[string]string // user → personal token
	Installation int64
	Links        *app.Links
	// OperatorToken opens /runs and /riverui (OPERATOR_TOKEN).
	OperatorToken string
	// EvidenceKey signs the stack's statements of what ran.
	EvidenceKey ed25519.PrivateKey

	cluster *pgtemp.Cluster
	tmp     string
	bin     string
	secrets []string // the webhook secret and the database URL, for leak checks
	cfg     *app.Config
	logger  *slog.Logger
	workers []*Server // more `specloop worker` processes on the same database
}

// AddWorker starts another `specloop worker` against the stack's database
// and GitHub, as a second replica would be.
func (st *Stack) AddWorker(ctx context.Context) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	w, err := StartServer(ctx, "worker", st.cfg, st.logger, l, ServerOptions{ExtraRO: []string{st.bin}, LeaseTTL: st.Server.LeaseTTL})
	if err != nil {
		l.Close()
		return nil, err
	}
	st.workers = append(st.workers, w)
	return w, nil
}

// AgentBin is the scripted agent's binary, runnable inside sandboxes.
func (st *Stack) AgentBin() string { return st.bin }

// Workers is how many cycles each of the stack's processes runs at once.
func (st *Stack) Workers() int { return st.cfg.Workers }

// Secrets are the webhook secret and the database URL, for leak checks.
func (st *Stack) Secrets() []string { return st.secrets }

// Options shape a Stack.
type Options struct {
	DatabaseURL string            // "" starts a throw-away cluster
	Files       map[string]string // the sample repo; nil = sampleRepo
	Sandbox     string            // bwrap (default) or none
	Workers     int
	LeaseTTL    time.Duration
	Logger      *slog.Logger
	// WebOnly runs the stack's server as `specloop web`: cycles run only
	// on workers added with AddWorker.
	WebOnly bool
	// Keepalive, LiveEvery and ProgressEvery shorten the event stream's
	// keepalive, the live log's chunk interval and the progress comment's
	// edit interval (ServerOptions), for tests.
	Keepalive, LiveEvery, ProgressEvery time.Duration
}

// The app the stack registers with its emulator.
const (
	AppID   = 1
	AppSlug = "specloop"
)

// Start starts a Stack. The running binary is the scripted agent: run as
// `<binary> agent-script` it must act as one (the specloop binary and its
// tests do).
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	st := &Stack{Owner: "acme", Repo: "widgets", Tokens: map[string]string{}}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if st.tmp, err = os.MkdirTemp("", "specloop-stack-"); err != nil {
		return nil, err
	}
	// The sandbox runs as another user: it must be able to enter these.
	if err := os.Chmod(st.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("open the stack's directory to the sandbox user: %w", err)
	}
	agentBin, err := installSelf(st.tmp)
	if err != nil {
		return nil, err
	}
	st.bin = agentBin
	dbURL := opts.DatabaseURL
	if dbURL == "" {
		if st.cluster, err = pgtemp.Start(ctx); err != nil {
			return nil, fmt.Errorf("start PostgreSQL: %w", err)
		}
		dbURL = st.cluster.URL("")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	secret := randomHex(20)
	events, err := emulator.ManifestEvents(specloop.Manifest)
	if err != nil {
		return nil, err
	}
	st.Clock = &emulator.Clock{}
	st.Emulator, err = emulator.New(emulator.Options{
		AppID: AppID, AppPublicKey: &key.PublicKey, AppSlug: AppSlug, WebhookSecret: secret,
		Dir: filepath.Join(st.tmp, "github"), Logger: opts.Logger,
		// What app.yml subscribes to is all GitHub would send.
		Events: events, Now: st.Clock.Now,
		// The sample owner pays for drafts in private repos; the Free
		// plan's fallback is tested on an owner of its own.
		DefaultPlan: emulator.PlanPro,
	})
	if err != nil {
		return nil, err
	}
	emURL, err := st.Emulator.Start()
	if err != nil {
		return nil, fmt.Errorf("start the GitHub emulator: %w", err)
	}
	files := opts.Files
	if files == nil {
		files = SampleRepo(agentBin)
	}
	if _, err := st.Emulator.CreateRepo(st.Owner, st.Repo, emulator.RepoOptions{DefaultBranch: "main", Private: true, Files: files}); err != nil {
		return nil, fmt.Errorf("seed the sample repo: %w", err)
	}
	for user, perm := range map[string]string{"maintainer": "admin", "reader": "read"} {
		st.Tokens[user] = st.Emulator.AddUser(user)
		st.Emulator.SetPermission(st.Owner, st.Repo, user, perm)
	}

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	st.URL = "http://" + listener.Addr().String()
	sb := opts.Sandbox
	if sb == "" {
		sb = "bwrap"
	}
	cfg := &app.Config{
		AppID: AppID, PrivateKey: key, PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		WebhookSecret: secret, DatabaseURL: dbURL, GitHubAPIURL: emURL + "/", PublicURL: st.URL,
		Workers: max(opts.Workers, 2), Sandbox: sb, Retention: app.DefaultRetention, MirrorDir: filepath.Join(st.tmp, "mirrors"),
		OperatorToken: randomHex(16),
	}
	st.OperatorToken = cfg.OperatorToken
	// An evidence key of the stack's own, so its statements are signed;
	// EvidenceKey's public half verifies them.
	if _, st.EvidenceKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, fmt.Errorf("generate an evidence key: %w", err)
	}
	cfg.EvidenceKeys = &attest.Keys{Current: st.EvidenceKey}
	mode := "serve"
	if opts.WebOnly {
		mode = "web"
	}
	st.Server, err = StartServer(ctx, mode, cfg, opts.Logger, listener, ServerOptions{ExtraRO: []string{agentBin}, LeaseTTL: opts.LeaseTTL,
		Keepalive: opts.Keepalive, LiveEvery: opts.LiveEvery, ProgressEvery: opts.ProgressEvery})
	if err != nil {
		listener.Close()
		return nil, err
	}
	st.Links = NewLinker(cfg)
	st.secrets = cfg.Secrets()
	st.cfg, st.logger = cfg, opts.Logger
	st.Emulator.SetWebhookURL(st.URL + "/webhooks")
	st.Installation = st.Emulator.Install(st.Owner, st.Repo)
	return st, nil
}

// Close stops everything and removes what the stack created.
func (st *Stack) Close() {
	for _, w := range st.workers {
		if err := w.Shutdown(20 * time.Second); err != nil {
			st.logger.Warn("stop worker", "err", err)
		}
	}
	if st.Server != nil {
		if err := st.Server.Shutdown(20 * time.Second); err != nil {
			st.logger.Warn("stop server", "err", err)
		}
	}
	if st.Emulator != nil {
		st.Emulator.Close()
	}
	if st.cluster != nil {
		st.cluster.Stop()
	}
	if st.tmp != "" {
		os.RemoveAll(st.tmp)
	}
}

// installSelf copies this binary where the sandbox user can run it: it is
// the scripted agent (`specloop agent-script`).
func installSelf(dir string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	src, err := os.Open(exe)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst := filepath.Join(bin, "specloop")
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return "", err
	}
	return dst, out.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// SampleRepo is the testdrive's repository: a tiny project, a spec with
// three obligations, and a config that runs the scripted agent.
func SampleRepo(agentBin string) map[string]string {
	return map[string]string{
		"README.md": "# widgets\n\nA sample project for the specloop testdrive.\n",
		"AGENTS.md": "Keep changes small. Write one file per obligation under impl/.\n",
		".github/specloop.yml": fmt.Sprintf(`# specloop config for the testdrive: a scripted agent stands in for Codex.
agent:
  command: %s agent-script
  timeout: 2m
verify:
  command: %q
  timeout: 1m
fix_attempts: 2
`, agentBin, scripted.VerifyCommand),
		"specs/widgets.md": `---
verify: ` + fmt.Sprintf("%q", scripted.VerifyCommand) + `
---
# Widgets

The widget service, built one obligation at a time.

## Storage

- [ ] [store-1] Persist widgets in a table with a name and a colour
- [ ] [store-2] Reject widgets without a name

## API

- [ ] [api-1] List widgets, sorted by name
`,
	}
}

// IssueBody is the spec of the issue the testdrive labels.
const IssueBody = `Build the widget counter.

- [ ] [count-1] Count widgets by colour
- [ ] [count-2] Report the total in the README
- [ ] [count-3] Add a changelog entry
`

// ErrNoCycle means the cycles waited for did not finish in time.
var ErrNoCycle = errors.New("no cycle finished in time")
