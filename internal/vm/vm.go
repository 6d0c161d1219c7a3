package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultDir is where scripts/vm/kernel.sh leaves a kernel and its 9p
// modules; SPECLOOP_VM_DIR overrides it.
const DefaultDir = "/var/cache/specloop/vm"

// Machine is what booting needs: QEMU, KVM, a kernel and its modules.
type Machine struct {
	QEMU    string   // qemu-system-x86_64
	Kernel  string   // a bzImage (vmlinuz)
	Modules []string // .ko files: virtio PCI and 9p with what they need
	// Memory is the machine's RAM in MiB; zero means 2048.
	Memory int
}

// Find returns the machine described by the directory getenv's
// SPECLOOP_VM_DIR names (DefaultDir by default), or an error saying what is
// missing and how to get it.
func Find(getenv func(string) string) (Machine, error) {
	dir := getenv("SPECLOOP_VM_DIR")
	if dir == "" {
		dir = DefaultDir
	}
	var m Machine
	var missing []string
	q, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		missing = append(missing, "qemu-system-x86_64 (apt-get install qemu-system-x86)")
	}
	m.QEMU = q
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		missing = append(missing, "a usable /dev/kvm ("+err.Error()+")")
	} else {
		f.Close()
	}
	m.Kernel = filepath.Join(dir, "vmlinuz")
	if _, err := os.Stat(m.Kernel); err != nil {
		missing = append(missing, m.Kernel+" (scripts/vm/kernel.sh)")
	}
	m.Modules, _ = filepath.Glob(filepath.Join(dir, "modules", "*.ko"))
	if len(m.Modules) == 0 {
		missing = append(missing, filepath.Join(dir, "modules")+"/*.ko (scripts/vm/kernel.sh)")
	}
	if len(missing) > 0 {
		return Machine{}, fmt.Errorf("no virtual machine: missing %s", strings.Join(missing, ", "))
	}
	return m, nil
}

// Command is what runs in the machine, as root.
type Command struct {
	Argv []string
	Env  []string
	// Dir is the working directory, a path of the host (seen read-only).
	Dir string
	// Files are host files copied into the machine before the command
	// starts, at guest path -> host path; the guest path must be under
	// /tmp, the machine's own. A test binary under the host's /tmp needs
	// this: the machine's /tmp is not the host's.
	Files map[string]string
	// Cgroup is the cgroup (relative to the root of the hierarchy) the
	// command starts in; empty means the root.
	Cgroup string
}

// Result is how the command ended.
type Result struct {
	ExitCode int
	// Output is what the command wrote (stdout and stderr together).
	Output []byte
	// Console is what the kernel printed, for when the machine failed.
	Console []byte
}

var exitLine = regexp.MustCompile(`\nspecloop-vm-exit: (\d+)\n?$`)

// Run boots m, runs c in it and returns once the machine is off. ctx
// bounds the whole boot.
func Run(ctx context.Context, m Machine, c Command) (Result, error) {
	work, err := os.MkdirTemp("", "specloop-vm-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(work)
	initrd := filepath.Join(work, "initrd")
	if err := buildInitrd(ctx, initrd, work, m, c); err != nil {
		return Result{}, fmt.Errorf("vm: building the initramfs: %w", err)
	}
	mem := m.Memory
	if mem == 0 {
		mem = 2048
	}
	outPath, consolePath := filepath.Join(work, "out"), filepath.Join(work, "console")
	// Software emulation: KVM is exposed on these hosts, but a guest
	// kernel hangs under it right after decompression.
	cmd := exec.CommandContext(ctx, m.QEMU,
		"-machine", "q35,accel=tcg", "-cpu", "max", "-smp", "2", "-m", strconv.Itoa(mem),
		"-kernel", m.Kernel, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init",
		"-nographic", "-no-reboot", "-nic", "none", "-monitor", "none",
		"-serial", "file:"+consolePath, "-serial", "file:"+outPath,
		"-virtfs", "local,path=/,mount_tag=host0,security_model=passthrough,readonly=on,multidevs=remap",
	)
	var qemuOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qemuOut, &qemuOut
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	var r Result
	r.Console, _ = os.ReadFile(consolePath)
	out, _ := os.ReadFile(outPath)
	// The serial line turns every \n into \r\n.
	out = bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n"))
	loc := exitLine.FindSubmatchIndex(out)
	if loc == nil {
		if runErr == nil {
			runErr = errors.New("the machine stopped before the command ended")
		}
		return Result{Output: out, Console: r.Console}, fmt.Errorf("vm: %w: %s; console: %s", runErr,
			strings.TrimSpace(qemuOut.String()), tail(r.Console, 2000))
	}
	r.ExitCode, _ = strconv.Atoi(string(out[loc[2]:loc[3]]))
	r.Output = out[:loc[0]]
	return r, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// buildInitrd writes the initramfs: the init program, the modules, the
// command and its files.
func buildInitrd(ctx context.Context, path, work string, m Machine, c Command) error {
	initBin := filepath.Join(work, "init")
	build := exec.CommandContext(ctx, "go", "build", "-o", initBin, "github.com/specloop/specloop/internal/vm/init")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of the init program: %w: %s", err, out)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := &cpioWriter{w: f}
	data, err := os.ReadFile(initBin)
	if err != nil {
		return err
	}
	w.file("init", 0o755, data)
	w.dir("modules")
	for _, mod := range m.Modules {
		data, err := os.ReadFile(mod)
		if err != nil {
			return err
		}
		w.file("modules/"+filepath.Base(mod), 0o644, data)
	}
	w.dir("payload")
	files := map[string]string{}
	i := 0
	for dst, src := range c.Files {
		if !strings.HasPrefix(filepath.Clean(dst), "/tmp/") {
			return fmt.Errorf("file %s: guest paths must be under /tmp", dst)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		name := "payload/" + strconv.Itoa(i)
		i++
		w.file(name, 0o755, data)
		files[dst] = "/" + name
	}
	cmdJSON, err := json.Marshal(map[string]any{
		"argv": c.Argv, "env": c.Env, "dir": c.Dir, "files": files, "cgroup": c.Cgroup,
	})
	if err != nil {
		return err
	}
	w.file("cmd.json", 0o644, cmdJSON)
	if err := w.close(); err != nil {
		return err
	}
	return f.Close()
}
