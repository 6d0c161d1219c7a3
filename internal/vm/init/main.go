// Command init is PID 1 of a vm.Run machine: it loads the 9p modules, mounts
// the host's file system read-only with fresh /proc, /sys, /dev, /tmp and a
// cgroup v2 hierarchy over it, runs the one command /cmd.json describes with
// its output on the second serial port, and powers the machine off. It is
// built static (CGO_ENABLED=0): the initramfs has no C library.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// command is /cmd.json, written by vm.Run.
type command struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir"`
	// Files are copied from the initramfs into the machine's /tmp before
	// the command starts: guest path -> initramfs path.
	Files map[string]string `json:"files"`
	// Cgroup is the cgroup, below the root, the command starts in.
	Cgroup string `json:"cgroup"`
}

func main() {
	// The initramfs root has no /dev, /proc or /sys until we make them.
	for _, d := range []string{"/dev", "/proc", "/sys", "/host"} {
		_ = os.MkdirAll(d, 0o755)
	}
	err := mounts([]mnt{
		{"devtmpfs", "/dev", "devtmpfs", 0, ""},
		{"proc", "/proc", "proc", 0, ""},
		{"sysfs", "/sys", "sysfs", 0, ""},
	})
	out, oerr := os.OpenFile("/dev/ttyS1", os.O_WRONLY, 0)
	if oerr != nil {
		out = os.Stderr
	}
	if err == nil {
		err = run(out)
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	case err != nil:
		fmt.Fprintf(out, "\nvm init: %v\n", err)
		code = 125
	}
	fmt.Fprintf(out, "\nspecloop-vm-exit: %d\n", code)
	out.Sync()
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func run(out *os.File) error {
	if err := loadModules("/modules"); err != nil {
		return err
	}
	raw, err := os.ReadFile("/cmd.json")
	if err != nil {
		return err
	}
	var c command
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("reading /cmd.json: %w", err)
	}
	if err := mounts([]mnt{
		{"host0", "/host", "9p", unix.MS_RDONLY, "trans=virtio,version=9p2000.L,msize=1048576,cache=loose"},
		{"proc", "/host/proc", "proc", 0, ""},
		{"sysfs", "/host/sys", "sysfs", 0, ""},
		{"devtmpfs", "/host/dev", "devtmpfs", 0, ""},
		{"tmpfs", "/host/tmp", "tmpfs", 0, "mode=1777"},
		{"tmpfs", "/host/run", "tmpfs", 0, "mode=755"},
		{"cgroup2", "/host/sys/fs/cgroup", "cgroup2", 0, ""},
	}); err != nil {
		return err
	}
	for dst, src := range c.Files {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		p := filepath.Join("/host", dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			return err
		}
	}
	if err := loopbackUp(); err != nil {
		return err
	}
	// Debian's kernels refuse unprivileged user namespaces by default;
	// the hosts specloop runs on allow them, and bwrap needs them.
	_ = os.WriteFile("/proc/sys/kernel/unprivileged_userns_clone", []byte("1"), 0)
	// Move the host's tree over / before entering it, as switch_root does:
	// the kernel refuses user namespaces to a chrooted process.
	if err := os.Chdir("/host"); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving /host over /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	cg := "/sys/fs/cgroup"
	if err := os.WriteFile(cg+"/cgroup.subtree_control", []byte("+memory +pids"), 0); err != nil {
		return fmt.Errorf("enabling memory and pids controllers: %w", err)
	}
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Env, cmd.Dir = c.Env, c.Dir
	cmd.Stdout, cmd.Stderr = out, out
	if c.Cgroup != "" {
		dir := filepath.Join(cg, c.Cgroup)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		f, err := os.Open(dir)
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	}
	return cmd.Run()
}

type mnt struct {
	src, dst, fstype string
	flags            uintptr
	data             string
}

func mounts(ms []mnt) error {
	for _, m := range ms {
		if err := unix.Mount(m.src, m.dst, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err)
		}
	}
	return nil
}

// loadModules loads every .ko in dir, each after the modules its .modinfo
// says it depends on.
func loadModules(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	deps := map[string][]string{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".ko")
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		deps[name] = nil
		if i := bytes.Index(data, []byte("\x00depends=")); i >= 0 {
			rest := data[i+len("\x00depends="):]
			if j := bytes.IndexByte(rest, 0); j >= 0 && j > 0 {
				deps[name] = strings.Split(string(rest[:j]), ",")
			}
		}
	}
	names := make([]string, 0, len(deps))
	for n := range deps {
		names = append(names, n)
	}
	sort.Strings(names)
	loaded := map[string]bool{}
	var load func(string) error
	load = func(n string) error {
		if loaded[n] {
			return nil
		}
		loaded[n] = true
		for _, d := range deps[n] {
			if _, ok := deps[d]; ok {
				if err := load(d); err != nil {
					return err
				}
			}
		}
		f, err := os.Open(filepath.Join(dir, n+".ko"))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && err != unix.EEXIST {
			return fmt.Errorf("loading module %s: %w", n, err)
		}
		return nil
	}
	for _, n := range names {
		if err := load(n); err != nil {
			return err
		}
	}
	return nil
}

// loopbackUp brings up lo: the machine has no other interface, and tests
// listen on 127.0.0.1.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("reading lo's flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}
