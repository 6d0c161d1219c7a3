package stack

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/specloop/specloop/agent"
	"github.com/specloop/specloop/cycle"
	"github.com/specloop/specloop/modelproxy"
)

// AgentSetup gives e what agents with a preset need on this worker: the
// model proxy, a specloop binary the sandbox user can run (the proxy's
// bridge inside the sandbox), the presets' CLIs on PATH, and the tool
// paths bound read-only. binDir is where the binary is copied when it is
// not given; bridge, when set, is a copy already installed (the stack's).
// getenv reads the worker's environment (SANDBOX_TOOLS, MODEL_PRICES, the
// credentials).
func AgentSetup(e *cycle.Engine, runner *cycle.SandboxRunner, binDir, bridge string, getenv func(string) string, logger *slog.Logger) error {
	prices, err := modelproxy.LoadPrices(getenv("MODEL_PRICES"))
	if err != nil {
		return err
	}
	e.Proxy = modelproxy.New("", prices, logger)
	e.Getenv = getenv
	e.LookPath = lookPathIn(getenv("PATH"))
	if bridge == "" {
		if bridge, err = InstallBinary(binDir); err != nil {
			return fmt.Errorf("install the model proxy's bridge: %w", err)
		}
	}
	e.Bridge = bridge
	for _, p := range ToolPaths(getenv, e.LookPath, logger) {
		if !slices.Contains(runner.ExtraRO, p) {
			runner.ExtraRO = append(runner.ExtraRO, p)
		}
	}
	return nil
}

// lookPathIn is exec.LookPath over path instead of the process's PATH.
func lookPathIn(path string) func(string) (string, error) {
	return func(name string) (string, error) {
		if path == "" {
			return exec.LookPath(name)
		}
		for _, dir := range filepath.SplitList(path) {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return p, nil
			}
		}
		return "", fmt.Errorf("%s: %w", name, exec.ErrNotFound)
	}
}

// ToolPaths are the read-only tool paths of agent sandboxes: SANDBOX_TOOLS
// (colon-separated) when set, else wherever each preset's CLI and its
// runtime (node) resolve on this worker, as the installation's root: an
// npm prefix for `npm install --prefix`, the directory above bin/
// otherwise. Paths the system mounts already (/usr, /bin, /lib) are left
// out; paths the sandbox user cannot reach are left out with a warning
// (specloop doctor says the same).
func ToolPaths(getenv func(string) string, lookPath func(string) (string, error), logger *slog.Logger) []string {
	var cands []string
	if v := getenv("SANDBOX_TOOLS"); v != "" {
		cands = filepath.SplitList(v)
	} else {
		for _, name := range append(agent.PresetNames(), "node") {
			bin := name
			if p, ok := agent.Presets[name]; ok {
				bin = p.Binary
			}
			if p, err := lookPath(bin); err == nil {
				cands = append(cands, toolRoots(p)...)
			}
		}
	}
	var out []string
	for _, p := range cands {
		p = filepath.Clean(p)
		if p == "" || !filepath.IsAbs(p) || systemPath(p) || slices.Contains(out, p) {
			continue
		}
		if err := searchable(p); err != nil {
			logger.Warn("sandbox tool path left out", "path", p, "err", err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// toolRoots is what must be bound for the executable at p to run: the
// root of its installation, for the link and for its target.
func toolRoots(p string) []string {
	roots := []string{installRoot(p)}
	if real, err := filepath.EvalSymlinks(p); err == nil && real != p {
		roots = append(roots, installRoot(real))
	}
	return roots
}

func installRoot(p string) string {
	// Inside an npm prefix: the prefix (the parent of node_modules).
	parts := strings.Split(p, string(filepath.Separator))
	if i := slices.Index(parts, "node_modules"); i > 0 {
		return strings.Join(parts[:i], string(filepath.Separator))
	}
	dir := filepath.Dir(p)
	if filepath.Base(dir) == "bin" {
		return filepath.Dir(dir)
	}
	return dir
}

func systemPath(p string) bool {
	for _, s := range []string{"/usr", "/bin", "/sbin", "/lib", "/lib64"} {
		if p == s || strings.HasPrefix(p, s+"/") {
			return true
		}
	}
	return p == "/"
}

// searchable reports an error when a directory on the way to p is closed
// to other users (a 0700 home), as the sandbox user is one of them when
// the worker is root.
func searchable(p string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not searchable by the sandbox user: install the CLI elsewhere (/opt, /usr/local) or chmod o+x %s", d, d)
		}
		if d == "/" {
			return nil
		}
	}
}

// InstallBinary copies the running binary to dir/specloop (atomically, so
// that a running copy is never overwritten in place) where the sandbox
// user can run it, and returns its path: the bridge and the scripted agent
// run from it, whatever directory the binary itself is in (go install puts
// it in root's 0700 home).
func InstallBinary(dir string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	src, err := os.Open(exe)
	if err != nil {
		return "", err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, ".specloop-")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "specloop")
	return dst, os.Rename(tmp.Name(), dst)
}

// ModelSecrets are the model credentials in the worker's environment,
// which the redactor masks wherever they might show.
func ModelSecrets(getenv func(string) string) []string {
	var out []string
	for _, name := range agent.PresetNames() {
		for _, c := range agent.Presets[name].Credentials {
			if v := getenv(c); v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}
