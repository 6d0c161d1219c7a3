package procs

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-github/v62/github"

	"github.com/specloop/specloop/agent/scripted"
	"github.com/specloop/specloop/emulator"
	"github.com/specloop/specloop/internal/syncbuf"
)

// The app the cluster registers with its emulator.
const (
	AppID   = 1
	AppSlug = "specloop"
	Owner   = "acme"
)

// Build compiles cmd/specloop into dir (which the sandbox user must be
// able to enter) and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "specloop")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/specloop/specloop/cmd/specloop")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build cmd/specloop: %w: %s", err, out)
	}
	return bin, os.Chmod(bin, 0o755)
}

// Options shape a Cluster.
type Options struct {
	Bin         string // the specloop binary (Build)
	DatabaseURL string
	Dir         string // where keys, mirrors and the emulator's repos go; every user must be able to enter it
	// Env is added to every process's environment (LEASE_TTL,
	// SHUTDOWN_GRACE, WORKERS, SANDBOX, …).
	Env    []string
	Logger *slog.Logger // the emulator's; nil discards
	// SecondaryLimits, when set, replace the emulator's GitHub figures.
	SecondaryLimits *emulator.SecondaryLimits
}

// Cluster is an emulator in this process, and specloop processes around
// it: one `web` and any number of `worker`s.
type Cluster struct {
	Emulator *emulator.Server
	Web      *Proc
	Tokens   map[string]string // user → personal token

	opts    Options
	keyPath string
	secret  string
	mu      sync.Mutex
	procs   []*Proc
}

// Start starts the emulator and `specloop web`, and points the emulator's
// webhooks at it.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{opts: opts, Tokens: map[string]string{}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	c.keyPath = filepath.Join(opts.Dir, "app.pem")
	if err := os.WriteFile(c.keyPath, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return nil, fmt.Errorf("write the app's key: %w", err)
	}
	var b [20]byte
	rand.Read(b[:])
	c.secret = hex.EncodeToString(b[:])
	c.Emulator, err = emulator.New(emulator.Options{
		AppID: AppID, AppPublicKey: &key.PublicKey, AppSlug: AppSlug, WebhookSecret: c.secret,
		Dir: filepath.Join(opts.Dir, "github"), Logger: opts.Logger, SecondaryLimits: opts.SecondaryLimits,
	})
	if err != nil {
		return nil, err
	}
	if _, err := c.Emulator.Start(); err != nil {
		return nil, fmt.Errorf("start the GitHub emulator: %w", err)
	}
	c.Tokens["maintainer"] = c.Emulator.AddUser("maintainer")
	if c.Web, err = c.start(ctx, "web", "web"); err != nil {
		return nil, err
	}
	c.Emulator.SetWebhookURL(c.Web.URL + "/webhooks")
	return c, nil
}

// AddRepo creates, installs and opens to the maintainer a private repo of
// files.
func (c *Cluster) AddRepo(name string, files map[string]string) error {
	if _, err := c.Emulator.CreateRepo(Owner, name, emulator.RepoOptions{DefaultBranch: "main", Private: true, Files: files}); err != nil {
		return fmt.Errorf("create repo %s: %w", name, err)
	}
	c.Emulator.SetPermission(Owner, name, "maintainer", "admin")
	c.Emulator.Install(Owner, name)
	return nil
}

// RepoFiles is a repo whose config runs agent (a shell command line) as
// the implementer and the scripted agent as the auditor, and verifies with
// the scripted agent's verify command.
func (c *Cluster) RepoFiles(agent string) map[string]string {
	return map[string]string{
		"README.md": "# widgets\n",
		".github/specloop.yml": fmt.Sprintf("agent:\n  command: %q\n  timeout: 10m\nauditor:\n  command: %q\nverify:\n  command: %q\n  timeout: 1m\nlimits: {cycles_per_pr: 1000}\n",
			agent, c.opts.Bin+" agent-script", scripted.VerifyCommand),
	}
}

// User is a go-github client acting as one of the emulator's users.
func (c *Cluster) User(name string) *github.Client {
	gh := github.NewClient(&http.Client{Timeout: 30 * time.Second}).WithAuthToken(c.Tokens[name])
	gh.BaseURL, _ = url.Parse(c.Emulator.URL() + "/")
	return gh
}

// MirrorDir is where worker name keeps its mirrors: one per name, so a
// restarted worker finds what its predecessor left, as on one host.
func (c *Cluster) MirrorDir(name string) string {
	return filepath.Join(c.opts.Dir, "mirrors-"+name)
}

// StartWorker starts `specloop worker` named name (its MIRROR_DIR is
// MirrorDir(name)); env is added to the cluster's.
func (c *Cluster) StartWorker(ctx context.Context, name string, env ...string) (*Proc, error) {
	return c.start(ctx, "worker", name, env...)
}

func (c *Cluster) start(ctx context.Context, mode, name string, env ...string) (*Proc, error) {
	p := &Proc{Name: name, MirrorDir: c.MirrorDir(name), log: &syncbuf.Buffer{}, exited: make(chan struct{})}
	cmd := exec.Command(c.opts.Bin, mode)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + c.opts.Dir,
		"WEBHOOK_SECRET=" + c.secret, fmt.Sprintf("APP_ID=%d", AppID), "PRIVATE_KEY_PATH=" + c.keyPath,
		"DATABASE_URL=" + c.opts.DatabaseURL, "GITHUB_API_URL=" + c.Emulator.URL(),
		// PORT=0: the process binds a free port and logs it, so no port is
		// picked here and taken by someone else before it binds.
		"PORT=0", "PUBLIC_URL=http://specloop.invalid",
		"MIRROR_DIR=" + p.MirrorDir, "SANDBOX_TOOLS=" + c.opts.Bin,
	}, append(append([]string(nil), c.opts.Env...), env...)...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	// A test that dies takes its processes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start specloop %s: %w", mode, err)
	}
	p.cmd = cmd
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	if err := p.awaitReady(ctx, 60*time.Second); err != nil {
		p.cmd.Process.Kill()
		return nil, err
	}
	return p, nil
}

// Close kills every process still running and stops the emulator.
func (c *Cluster) Close() {
	c.mu.Lock()
	procs := c.procs
	c.mu.Unlock()
	for _, p := range procs {
		p.Signal(syscall.SIGKILL) // a stopped process dies of it too
		<-p.exited
	}
	if c.Emulator != nil {
		c.Emulator.Close()
	}
}

// Proc is one specloop process.
type Proc struct {
	Name      string
	URL       string // its HTTP base (health, metrics; webhooks for web)
	MirrorDir string

	cmd     *exec.Cmd
	log     *syncbuf.Buffer
	exited  chan struct{}
	waitErr error
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Log is what the process has written so far (JSON lines).
func (p *Proc) Log() string { return p.log.String() }

// Signal sends sig; a process that has exited is not an error.
func (p *Proc) Signal(sig syscall.Signal) error {
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Wait waits up to timeout for the process to exit and returns how.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(timeout):
		return fmt.Errorf("specloop %s (pid %d) still running after %s", p.Name, p.Pid(), timeout)
	}
}

// awaitReady waits for the "specloop started" line and /readyz.
func (p *Proc) awaitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("specloop %s exited at start (%v): %s", p.Name, p.waitErr, p.Log())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if p.URL == "" {
			addr, ok := StartedAddr(p.Log())
			if !ok {
				continue
			}
			p.URL = "http://" + addr
		}
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("specloop %s not ready within %s: %s", p.Name, limit, p.Log())
}

// StartedAddr finds the loopback address in the "specloop started" log
// line a specloop process writes once it listens.
func StartedAddr(log string) (string, bool) {
	for _, line := range strings.Split(log, "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "specloop started" {
			continue
		}
		_, port, err := net.SplitHostPort(rec.Addr)
		if err != nil {
			return "", false
		}
		return "127.0.0.1:" + port, true
	}
	return "", false
}

// Stats is what a process holds, as an operator would watch it.
type Stats struct {
	RSSBytes   int64 // resident memory (/proc)
	OpenFDs    int   // open file descriptors (/proc)
	Goroutines int   // go_goroutines on /metrics
	Mounts     int   // mount points under its MIRROR_DIR
	DiskBytes  int64 // disk used by its MIRROR_DIR
}

// Stats reads the process's figures; the process must be running.
func (p *Proc) Stats() (Stats, error) {
	var s Stats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return s, fmt.Errorf("read the status of %s: %w", p.Name, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			s.RSSBytes = kb << 10
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Pid()))
	if err != nil {
		return s, fmt.Errorf("list the open files of %s: %w", p.Name, err)
	}
	s.OpenFDs = len(fds)
	if s.Goroutines, err = p.goroutines(); err != nil {
		return s, err
	}
	if s.Mounts, err = MountsUnder(p.MirrorDir); err != nil {
		return s, err
	}
	s.DiskBytes = DiskUsage(p.MirrorDir)
	return s, nil
}

func (p *Proc) goroutines() (int, error) {
	resp, err := http.Get(p.URL + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("read the metrics of %s: %w", p.Name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			var n float64
			fmt.Sscanf(v, "%g", &n)
			return int(n), nil
		}
	}
	return 0, fmt.Errorf("no go_goroutines on the metrics of %s", p.Name)
}

// MountsUnder counts the mount points at or below dir (this host's mount
// namespace, which workers share).
func MountsUnder(dir string) (int, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0, fmt.Errorf("read mountinfo: %w", err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			n++
		}
	}
	return n, nil
}

// DiskUsage is the disk dir's files take (blocks, as du counts them),
// skipping what vanishes while it walks.
func DiskUsage(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				total += st.Blocks * 512
			}
		}
		return nil
	})
	return total
}
