package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
	kexec "k8s.io/client-go/util/exec"
)

// Labels and annotations of sandbox pods. The reaper finds pods by
// KubeLabelApp and decides by the others.
const (
	KubeLabelApp      = "app.kubernetes.io/name"
	KubeAppName       = "specloop-sandbox"
	KubeLabelWorker   = "specloop.dev/worker"
	KubeLabelCycle    = "specloop.dev/cycle"
	KubeLabelNetwork  = "specloop.dev/network"
	KubeAnnotDeadline = "specloop.dev/deadline"
	// KubeAnnotOwner is the owner the label was made from, unshortened.
	KubeAnnotOwner = "specloop.dev/owner"
)

// KubeUID is the user sandbox pods run as unless KubeConfig says
// otherwise: the image's "agent" user.
const KubeUID = 1000

// KubeConfig configures the kubernetes driver. Zero fields take the
// defaults NewKube documents.
type KubeConfig struct {
	// Namespace holds the sandbox pods (KUBE_NAMESPACE).
	Namespace string
	// Image is the sandbox image (KUBE_SANDBOX_IMAGE): busybox or another
	// POSIX shell with tar and kill, git, and the agent CLIs at the paths
	// the worker names. Its entrypoint must idle until SIGTERM (a pause).
	Image string
	// PullPolicy is the image pull policy; IfNotPresent by default.
	PullPolicy corev1.PullPolicy
	// CPU, Memory and Ephemeral are the container's limits
	// (KUBE_SANDBOX_CPU, KUBE_SANDBOX_MEMORY, KUBE_SANDBOX_EPHEMERAL):
	// cgroup limits enforced by the kubelet.
	CPU, Memory, Ephemeral string
	// UID is the non-root user the sandbox runs as.
	UID int64
	// Worker is this process's name in pod labels; the host name and pid
	// by default.
	Worker string
	// MaxLifetime is the pod's activeDeadlineSeconds when a Spec has no
	// Timeout, and the most it is when it has one.
	MaxLifetime time.Duration
	// Forwarder is the command in the image that carries a bound Unix
	// socket (the model proxy's) over exec (KUBE_SANDBOX_FORWARDER);
	// "/usr/local/bin/specloop sandbox-forward" by default.
	Forwarder []string
}

// kubeDriver runs each command in a pod of its own: the working copy goes
// in and the change comes back as tar streams over exec, the command runs
// by exec with the prompt on its stdin and its output streamed back.
type kubeDriver struct {
	cfg    KubeConfig
	client kubernetes.Interface
	rest   *rest.Config
	logger *slog.Logger
}

// NewKube returns the kubernetes driver for cfg talking to the cluster rc
// names. Defaults: namespace specloop-sandbox, image
// specloop.local/sandbox:dev, 2 CPUs, 2Gi of memory, 4Gi of ephemeral
// storage, uid 1000, 6 h maximum lifetime.
func NewKube(rc *rest.Config, cfg KubeConfig, logger *slog.Logger) (Driver, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "specloop-sandbox"
	}
	if cfg.Image == "" {
		cfg.Image = "specloop.local/sandbox:dev"
	}
	if cfg.PullPolicy == "" {
		cfg.PullPolicy = corev1.PullIfNotPresent
	}
	if cfg.CPU == "" {
		cfg.CPU = "2"
	}
	if cfg.Memory == "" {
		cfg.Memory = "2Gi"
	}
	if cfg.Ephemeral == "" {
		cfg.Ephemeral = "4Gi"
	}
	if cfg.UID == 0 {
		cfg.UID = KubeUID
	}
	if cfg.Worker == "" {
		host, _ := os.Hostname()
		cfg.Worker = host + "-" + strconv.Itoa(os.Getpid())
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = 6 * time.Hour
	}
	if len(cfg.Forwarder) == 0 {
		cfg.Forwarder = []string{"/usr/local/bin/specloop", "sandbox-forward"}
	}
	for name, q := range map[string]string{"cpu": cfg.CPU, "memory": cfg.Memory, "ephemeral-storage": cfg.Ephemeral} {
		if _, err := resource.ParseQuantity(q); err != nil {
			return nil, fmt.Errorf("sandbox kubernetes: %s limit %q: %w", name, q, err)
		}
	}
	rc = rest.CopyConfig(rc)
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("sandbox kubernetes: building the client: %w", err)
	}
	return &kubeDriver{cfg: cfg, client: client, rest: rc, logger: logger}, nil
}

// newKubeFromEnv is New("kubernetes"): the in-cluster config when the
// worker runs in a pod, else KUBECONFIG.
func newKubeFromEnv(getenv func(string) string, logger *slog.Logger) (Driver, error) {
	rc, err := KubeRESTConfig(getenv)
	if err != nil {
		return nil, err
	}
	return NewKube(rc, KubeConfig{
		Namespace: getenv("KUBE_NAMESPACE"), Image: getenv("KUBE_SANDBOX_IMAGE"),
		PullPolicy: corev1.PullPolicy(getenv("KUBE_SANDBOX_PULL_POLICY")),
		CPU:        getenv("KUBE_SANDBOX_CPU"), Memory: getenv("KUBE_SANDBOX_MEMORY"), Ephemeral: getenv("KUBE_SANDBOX_EPHEMERAL"),
		Forwarder: strings.Fields(getenv("KUBE_SANDBOX_FORWARDER")),
	}, logger)
}

// KubeRESTConfig is the cluster the worker talks to: the in-cluster config
// when it runs in a pod, else the file KUBECONFIG names.
func KubeRESTConfig(getenv func(string) string) (*rest.Config, error) {
	if getenv("KUBERNETES_SERVICE_HOST") != "" && getenv("KUBECONFIG") == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("sandbox kubernetes: in-cluster config: %w", err)
		}
		return rc, nil
	}
	path := getenv("KUBECONFIG")
	if path == "" {
		return nil, errors.New("sandbox kubernetes: neither in a cluster nor KUBECONFIG set")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("sandbox kubernetes: reading KUBECONFIG %s: %w", path, err)
	}
	return rc, nil
}

func (d *kubeDriver) Name() string { return "kubernetes" }

// Labels name the cycle and worker a sandboxed run belongs to; the
// kubernetes driver puts them on the run's pod, where the reaper and an
// operator's kubectl find them.
type Labels struct {
	Cycle  int64
	Worker string
}

type labelsKey struct{}

// WithLabels returns ctx carrying l for the sandboxes started under it.
func WithLabels(ctx context.Context, l Labels) context.Context {
	return context.WithValue(ctx, labelsKey{}, l)
}

func labelsFrom(ctx context.Context) Labels {
	l, _ := ctx.Value(labelsKey{}).(Labels)
	return l
}

type imageKey struct{}

// WithImage returns ctx asking the sandboxes started under it to run from
// image (a repo's sandbox.image, once the operator's KUBE_IMAGES allowed
// it) instead of the driver's own; "" leaves the driver's. Drivers that run
// no images ignore it.
func WithImage(ctx context.Context, image string) context.Context {
	if image == "" {
		return ctx
	}
	return context.WithValue(ctx, imageKey{}, image)
}

// ImageFrom is the image WithImage put in ctx, or "".
func ImageFrom(ctx context.Context) string {
	s, _ := ctx.Value(imageKey{}).(string)
	return s
}

var labelUnsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// labelValue makes s a label value: at most 63 characters of
// [A-Za-z0-9._-], beginning and ending with an alphanumeric.
func labelValue(s string) string {
	s = labelUnsafe.ReplaceAllString(s, "_")
	if len(s) > 63 {
		s = s[len(s)-63:]
	}
	return strings.Trim(s, "._-")
}

// tree is one host path that travels into the pod.
type tree struct {
	src, dst string
	writable bool
	file     bool
	// sock is a Unix socket, carried by the forwarder rather than copied.
	sock bool
	// data, when set, is the file's bytes (src is unused): the prompt.
	data []byte
}

// stdinPath is where the command's stdin waits in the pod. It travels
// with the working copy rather than over the exec's stdin stream, which
// can lose what is written before the process starts when the apiserver
// translates the stream to the kubelet.
const stdinPath = "/tmp/.specloop-stdin"

// kubeTrees lists what travels: the working copy, the home, the binds,
// and ExtraRO files. ExtraRO directories (tool paths) do not: the image
// carries the tools. Sockets cannot travel and are left out.
func kubeTrees(dir string, s Spec) []tree {
	ts := []tree{{src: dir, dst: dir, writable: true}}
	if s.Home != "" {
		ts = append(ts, tree{src: s.Home, dst: HomeDir, writable: true})
	}
	add := func(src, dst string, writable, filesOnly bool) {
		fi, err := os.Stat(src)
		if err != nil {
			return
		}
		switch {
		case fi.Mode()&os.ModeSocket != 0:
			ts = append(ts, tree{src: src, dst: dst, sock: true})
		case fi.Mode().IsRegular():
			ts = append(ts, tree{src: src, dst: dst, file: true})
		case fi.IsDir() && !filesOnly:
			ts = append(ts, tree{src: src, dst: dst, writable: writable})
		}
	}
	for _, b := range s.Binds {
		add(b.Src, b.dst(), b.Writable, false)
	}
	for _, p := range s.ExtraRO {
		add(p, p, false, true)
	}
	return ts
}

// under reports whether p is root or below it.
func under(p, root string) bool {
	return p == root || strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/")
}

// mounts returns the pod's emptyDir mount points for ts: /tmp, each
// directory tree's dst, and for a file the directory it sits in, unless a
// mount already covers it. A file in a system directory is not shipped:
// mounting over /usr/bin would hide the image's own tools.
func mounts(ts []tree) (dirs []string, kept []tree) {
	dirs = []string{"/tmp"}
	covered := func(p string) bool {
		for _, m := range dirs {
			if under(p, m) {
				return true
			}
		}
		return false
	}
	for _, t := range ts {
		// A directory tree is made by tar in a mount of its parent, so
		// that it is the sandbox user's own (git refuses a repository
		// whose top directory someone else owns); where the parent is a
		// system directory it is the mount itself.
		at := filepath.Dir(t.dst)
		if covered(at) {
			kept = append(kept, t)
			continue
		}
		if systemDir(at) {
			if t.file || t.sock || systemDir(t.dst) {
				continue
			}
			at = t.dst
		}
		if !slicesContains(dirs, at) {
			dirs = append(dirs, at)
		}
		kept = append(kept, t)
	}
	return dirs, kept
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func systemDir(p string) bool {
	for _, s := range []string{"/bin", "/sbin", "/lib", "/lib64", "/usr", "/etc", "/proc", "/sys", "/dev", "/"} {
		if p == s || (s != "/" && under(p, s) && !under(p, "/usr/local")) {
			return true
		}
	}
	return false
}

func (d *kubeDriver) Run(ctx context.Context, s Spec) (Result, error) {
	dir, argv, err := s.command()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox kubernetes: %w", err)
	}
	start := time.Now()
	ts := kubeTrees(dir, s)
	dirs, ts := mounts(ts)
	if s.Stdin != nil {
		data, err := io.ReadAll(s.Stdin)
		if err != nil {
			return Result{}, fmt.Errorf("sandbox kubernetes: reading stdin: %w", err)
		}
		ts = append(ts, tree{dst: stdinPath, file: true, data: data})
	}
	pod := d.pod(labelsFrom(ctx), s, dirs)
	if img := ImageFrom(ctx); img != "" {
		pod.Spec.Containers[0].Image = img
	}

	pods := d.client.CoreV1().Pods(d.cfg.Namespace)
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if ctx.Err() != nil {
			return Result{Cancelled: true, ExitCode: -1, Duration: time.Since(start)}, nil
		}
		return Result{}, fmt.Errorf("sandbox kubernetes: creating the pod in %s: %w", d.cfg.Namespace, err)
	}
	name := created.Name
	log := d.logger.With("driver", "kubernetes", "pod", name)
	log.Debug("sandbox run", "dir", dir, "argv", argv, "timeout", s.Timeout)
	killed := false
	defer func() {
		// Grace 0: the pod's init ignores nothing, and a cancelled or
		// finished run has nothing left to save.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if !killed {
			d.killAll(dctx, name, "KILL")
		}
		if err := d.deletePod(dctx, name); err != nil {
			log.Warn("sandbox kubernetes: deleting the pod; the reaper will", "err", err)
		}
	}()

	cancelled := func() (Result, error) {
		// Everything in the pod is killed before Run returns, so nothing
		// the command started outlives it; then the pod goes (grace 0).
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		d.killAll(dctx, name, "KILL")
		killed = true
		if err := d.deletePod(dctx, name); err != nil {
			log.Warn("sandbox kubernetes: deleting the pod", "err", err)
		}
		return Result{Cancelled: true, ExitCode: 128 + 9, Duration: time.Since(start)}, nil
	}

	if err := d.waitRunning(ctx, created); err != nil {
		if ctx.Err() != nil {
			return cancelled()
		}
		return Result{}, fmt.Errorf("sandbox kubernetes: starting pod %s: %w", name, err)
	}
	if err := d.copyIn(ctx, name, ts); err != nil {
		if ctx.Err() != nil {
			return cancelled()
		}
		return Result{}, fmt.Errorf("sandbox kubernetes: copying the working copy into pod %s: %w", name, err)
	}
	log.Debug("sandbox kubernetes: working copy in", "after", time.Since(start))
	fctx, stopForward := context.WithCancel(ctx)
	var forwards sync.WaitGroup
	defer func() { stopForward(); forwards.Wait() }()
	for _, t := range ts {
		if !t.sock {
			continue
		}
		ready := make(chan struct{})
		forwards.Add(1)
		go func() {
			defer forwards.Done()
			if err := d.forward(fctx, name, t, ready); err != nil && fctx.Err() == nil {
				log.Warn("sandbox kubernetes: forwarding a socket", "socket", t.dst, "err", err)
			}
		}()
		select {
		case <-ready:
		case <-ctx.Done():
			return cancelled()
		case <-time.After(30 * time.Second):
			return Result{}, fmt.Errorf("sandbox kubernetes: the forwarder for %s in pod %s did not start (is %v in the image?)", t.dst, name, d.cfg.Forwarder)
		}
	}

	out := newOutputBuffer(s.Limits.Output, s.Stdout)
	w := &lockedWriter{w: out}
	code, o, err := d.runCommand(ctx, name, dir, argv, s, w)
	stopForward()
	if err != nil {
		if ctx.Err() != nil {
			return cancelled()
		}
		if reason := d.podEnded(name); reason != "" {
			fmt.Fprintf(w, "\nkilled: %s\n", reason)
			res := Result{ExitCode: 128 + 9, TimedOut: true, Duration: time.Since(start)}
			res.Output, res.Truncated = out.result()
			return res, nil
		}
		return Result{}, fmt.Errorf("sandbox kubernetes: running in pod %s: %w", name, err)
	}
	if o.cancelled {
		return cancelled()
	}
	oom := false
	if code == 128+9 {
		oom = d.oomKilled(ctx, name)
		if oom {
			fmt.Fprintf(w, "\nkilled: out of memory at %s\n", humanBytes(d.cfg.Memory))
		}
	}
	if code > 128 && !oom && !o.timedOut {
		// Killed by a signal nobody here sent: the kubelet ending the pod
		// at its activeDeadlineSeconds (or an eviction) reaches the exec
		// as the command's exit, before the pod's status says why.
		if reason := d.podEndedWithin(ctx, name, 3*time.Second); reason != "" {
			fmt.Fprintf(w, "\nkilled: %s\n", reason)
			res := Result{ExitCode: code, TimedOut: true, Duration: time.Since(start)}
			res.Output, res.Truncated = out.result()
			return res, nil
		}
	}
	// Whatever the command left running goes before its change is read.
	d.killAll(ctx, name, "KILL")
	killed = true
	if err := d.copyOut(ctx, name, ts); err != nil {
		if ctx.Err() != nil {
			return cancelled()
		}
		return Result{}, fmt.Errorf("sandbox kubernetes: copying the change out of pod %s: %w", name, err)
	}
	res := Result{ExitCode: code, TimedOut: o.timedOut, OOMKilled: oom, Duration: time.Since(start)}
	res.Output, res.Truncated = out.result()
	log.Debug("sandbox done", "exit_code", res.ExitCode, "timed_out", res.TimedOut, "oom", oom, "duration", res.Duration)
	return res, nil
}

// pod is the pod of one run: no service-account token, no service links,
// non-root, a read-only root filesystem with emptyDirs where the command
// writes, no capabilities, limits, and a deadline past which the kubelet
// kills it even if this worker is gone.
func (d *kubeDriver) pod(l Labels, s Spec, dirs []string) *corev1.Pod {
	life := d.cfg.MaxLifetime
	if s.Timeout > 0 {
		// The worker stops the command at Timeout; the deadline is the
		// backstop for a worker that died, with room for the copies, and
		// never past the operator's MaxLifetime.
		life = min(s.Timeout+s.grace()+5*time.Minute, d.cfg.MaxLifetime)
	}
	secs := int64((life + time.Second - 1) / time.Second)
	network := "none"
	if s.Network {
		network = "egress"
	}
	labels := map[string]string{
		KubeLabelApp: KubeAppName, KubeLabelWorker: labelValue(d.cfg.Worker), KubeLabelNetwork: network,
	}
	annot := map[string]string{
		KubeAnnotDeadline: time.Now().Add(life).UTC().Format(time.RFC3339),
		KubeAnnotOwner:    d.cfg.Worker,
	}
	if l.Worker != "" {
		labels[KubeLabelWorker] = labelValue(l.Worker)
		annot[KubeAnnotOwner] = l.Worker
	}
	if l.Cycle != 0 {
		labels[KubeLabelCycle] = strconv.FormatInt(l.Cycle, 10)
	}
	var vols []corev1.Volume
	var vms []corev1.VolumeMount
	for i, p := range dirs {
		n := "t" + strconv.Itoa(i)
		vols = append(vols, corev1.Volume{Name: n, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		vms = append(vms, corev1.VolumeMount{Name: n, MountPath: p})
	}
	limits := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse(d.cfg.CPU),
		corev1.ResourceMemory:           resource.MustParse(d.cfg.Memory),
		corev1.ResourceEphemeralStorage: resource.MustParse(d.cfg.Ephemeral),
	}
	// Small requests: the limits bound a run, and a node full of idle
	// sandboxes (an agent waiting on the model) should not refuse more.
	requests := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("100m"),
		corev1.ResourceMemory:           minQuantity("128Mi", d.cfg.Memory),
		corev1.ResourceEphemeralStorage: resource.MustParse("64Mi"),
	}
	f, t := false, true
	uid := d.cfg.UID
	zero := int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "specloop-", Labels: labels, Annotations: annot},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &f,
			EnableServiceLinks:            &f,
			ActiveDeadlineSeconds:         &secs,
			TerminationGracePeriodSeconds: &zero,
			Volumes:                       vols,
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot: &t, RunAsUser: &uid, RunAsGroup: &uid,
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "sandbox", Image: d.cfg.Image, ImagePullPolicy: d.cfg.PullPolicy,
				Resources:    corev1.ResourceRequirements{Limits: limits, Requests: requests},
				VolumeMounts: vms,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &f, ReadOnlyRootFilesystem: &t, Privileged: &f,
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// waitRunning waits until the pod's container runs, or says why it will
// not (an image that is not there, a pod that failed).
func (d *kubeDriver) waitRunning(ctx context.Context, p *corev1.Pod) error {
	pods := d.client.CoreV1().Pods(d.cfg.Namespace)
	w, err := pods.Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", p.Name).String(), ResourceVersion: p.ResourceVersion,
	})
	if err != nil {
		return fmt.Errorf("watching: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				// The watch ended (a timeout on the server): look again.
				cur, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
				if err != nil {
					return fmt.Errorf("reading: %w", err)
				}
				if done, err := runningState(cur); done || err != nil {
					return err
				}
				return d.waitRunning(ctx, cur)
			}
			if ev.Type == watch.Deleted {
				return errors.New("the pod was deleted")
			}
			cur, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if done, err := runningState(cur); done || err != nil {
				return err
			}
		}
	}
}

// runningState reports whether p's container runs, or an error when it
// never will.
func runningState(p *corev1.Pod) (bool, error) {
	switch p.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		return false, fmt.Errorf("the pod ended before it ran: %s %s", p.Status.Reason, p.Status.Message)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil {
			return true, nil
		}
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImageNeverPull", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
				return false, fmt.Errorf("container %s: %s: %s", cs.Name, w.Reason, w.Message)
			}
		}
		if t := cs.State.Terminated; t != nil {
			return false, fmt.Errorf("container %s ended: %s (exit %d)", cs.Name, t.Reason, t.ExitCode)
		}
	}
	return false, nil
}

// exec runs argv in the pod's container and waits for it. A non-zero exit
// is returned as its code with a nil error.
func (d *kubeDriver) exec(ctx context.Context, name string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	req := d.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(d.cfg.Namespace).Name(name).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Container: "sandbox", Command: argv, Stdin: stdin != nil, Stdout: stdout != nil, Stderr: stderr != nil,
	}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(d.rest, "GET", req.URL().String())
	if err != nil {
		return 0, fmt.Errorf("exec over websocket: %w", err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(d.rest, "POST", req.URL())
	if err != nil {
		return 0, fmt.Errorf("exec over SPDY: %w", err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return 0, fmt.Errorf("exec: %w", err)
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
	var ce kexec.CodeExitError
	if errors.As(err, &ce) {
		return ce.Code, nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}

// killAll signals every process of the container but its init.
func (d *kubeDriver) killAll(ctx context.Context, name, sig string) {
	// kill(-1) reaches every process of the container's PID namespace but
	// init and the caller.
	if _, err := d.exec(ctx, name, []string{"/bin/sh", "-c", "kill -" + sig + " -1 2>/dev/null; true"}, nil, io.Discard, io.Discard); err != nil {
		d.logger.Debug("sandbox kubernetes: signalling", "pod", name, "signal", sig, "err", err)
	}
}

func (d *kubeDriver) deletePod(ctx context.Context, name string) error {
	zero := int64(0)
	err := d.client.CoreV1().Pods(d.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// podEndedWithin is podEnded, asked again for up to wait while the pod's
// status catches up with its end.
func (d *kubeDriver) podEndedWithin(ctx context.Context, name string, wait time.Duration) string {
	until := time.Now().Add(wait)
	for {
		if reason := d.podEnded(name); reason != "" || time.Now().After(until) {
			return reason
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// podEnded says why the pod stopped under a running command (its
// activeDeadlineSeconds, an eviction), or "" when it still runs.
func (d *kubeDriver) podEnded(name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := d.client.CoreV1().Pods(d.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "the sandbox pod was deleted"
	}
	if err != nil || p.Status.Phase != corev1.PodFailed {
		return ""
	}
	if p.Status.Reason == "DeadlineExceeded" {
		secs := int64(0)
		if p.Spec.ActiveDeadlineSeconds != nil {
			secs = *p.Spec.ActiveDeadlineSeconds
		}
		return fmt.Sprintf("the sandbox pod's deadline (activeDeadlineSeconds: %d s) passed", secs)
	}
	return "the sandbox pod failed: " + p.Status.Reason + " " + p.Status.Message
}

// runCommand runs the command in the pod, in dir with only s's
// environment, stdout and stderr combined, and stops it at s.Timeout:
// SIGTERM to every process, SIGKILL s.Grace later.
func (d *kubeDriver) runCommand(ctx context.Context, name, dir string, argv []string, s Spec, w io.Writer) (int, kubeOutcome, error) {
	home := "/tmp"
	if s.Home != "" {
		home = HomeDir
	}
	script := `cd "$1" || exit 126; shift; exec 2>&1; ` + ulimits(s.Limits)
	if s.Stdin != nil {
		script += `exec <` + stdinPath + ` && rm -f ` + stdinPath + ` || exit 126; `
	} else {
		script += `exec </dev/null; `
	}
	script += `exec env -i "$@"`
	cmd := append([]string{"/bin/sh", "-c", script, "sandbox", dir}, s.env(home)...)
	cmd = append(cmd, argv...)

	var o kubeOutcome
	var timedOut atomic.Bool
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var timer *time.Timer
	if s.Timeout > 0 {
		timer = time.AfterFunc(s.Timeout, func() {
			timedOut.Store(true)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			d.killAll(sctx, name, "TERM")
			cancel()
			select {
			case <-runCtx.Done():
				return
			case <-time.After(s.grace()):
			}
			sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			d.killAll(sctx, name, "KILL")
			cancel()
		})
		defer timer.Stop()
	}
	code, err := d.exec(runCtx, name, cmd, nil, w, w)
	if ctx.Err() != nil {
		o.cancelled = true
		return 0, o, nil
	}
	o.timedOut = timedOut.Load()
	return code, o, err
}

// kubeOutcome is how a command ended besides its code.
type kubeOutcome struct {
	timedOut, cancelled bool
}

// ulimits is the shell's ulimit call for l's CPU time, the rlimit bwrap
// sets. Memory is the pod's memory cgroup (KubeConfig.Memory), so no
// address-space limit; the process count is the pod's pids cgroup (the
// kubelet's podPidsLimit): RLIMIT_NPROC counts the uid across the node.
func ulimits(l Limits) string {
	var b strings.Builder
	if l.CPU > 0 {
		secs := int64((l.CPU + time.Second - 1) / time.Second)
		fmt.Fprintf(&b, "ulimit -S -t %d && ulimit -H -t %d || exit 126; ", secs, secs+1)
	}
	return b.String()
}

// oomKilled reports whether the kernel's OOM killer acted in the pod's
// memory cgroup: a process killed there dies of SIGKILL like any other.
func (d *kubeDriver) oomKilled(ctx context.Context, name string) bool {
	var out bytes.Buffer
	_, err := d.exec(ctx, name, []string{"/bin/sh", "-c",
		"cat /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events 2>/dev/null; true"}, nil, &out, io.Discard)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
			return true
		}
	}
	return false
}

// humanBytes writes a quantity as "2 GiB".
func humanBytes(q string) string {
	v, err := resource.ParseQuantity(q)
	if err != nil {
		return q
	}
	return formatBytes(v.Value())
}

// lockedWriter serialises the exec's stdout and stderr copiers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// PodOwner is what a sandbox pod says about who started it.
type PodOwner struct {
	// Owner is the worker (jobs: "<worker>/job-<id>") that started it.
	Owner string
	// Cycle is the cycle it runs for; zero when it was started outside one.
	Cycle int64
}

// Reaper is implemented by drivers whose sandboxes can outlive a dead
// worker (kubernetes): Reap deletes those no live worker owns and returns
// how many it deleted.
type Reaper interface {
	Reap(ctx context.Context, alive func(context.Context, PodOwner) (bool, error)) (int, error)
}

// Reap deletes, with grace 0, the namespace's sandbox pods that are past
// their deadline, that ended, or whose owner alive reports dead. The
// kubelet's activeDeadlineSeconds already stops a lost pod's processes;
// this removes the pod and its emptyDirs.
func (d *kubeDriver) Reap(ctx context.Context, alive func(context.Context, PodOwner) (bool, error)) (int, error) {
	pods := d.client.CoreV1().Pods(d.cfg.Namespace)
	l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: KubeLabelApp + "=" + KubeAppName})
	if err != nil {
		return 0, fmt.Errorf("sandbox kubernetes: listing sandbox pods: %w", err)
	}
	n := 0
	now := time.Now()
	for i := range l.Items {
		p := &l.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		why := ""
		if t, err := time.Parse(time.RFC3339, p.Annotations[KubeAnnotDeadline]); err == nil && now.After(t) {
			why = "past its deadline"
		} else if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			why = "ended"
		} else if alive != nil {
			owner := PodOwner{Owner: p.Annotations[KubeAnnotOwner]}
			owner.Cycle, _ = strconv.ParseInt(p.Labels[KubeLabelCycle], 10, 64)
			ok, err := alive(ctx, owner)
			if err != nil {
				return n, fmt.Errorf("sandbox kubernetes: is the owner of pod %s alive: %w", p.Name, err)
			}
			if !ok {
				why = "its worker is gone"
			}
		}
		if why == "" {
			continue
		}
		if err := d.deletePod(ctx, p.Name); err != nil {
			return n, fmt.Errorf("sandbox kubernetes: deleting pod %s: %w", p.Name, err)
		}
		d.logger.Info("sandbox kubernetes: reaped a pod", "pod", p.Name, "owner", p.Annotations[KubeAnnotOwner], "why", why)
		n++
	}
	return n, nil
}

// minQuantity is the smaller of two quantities: a request may not exceed
// its limit.
func minQuantity(a, b string) resource.Quantity {
	qa, qb := resource.MustParse(a), resource.MustParse(b)
	if qb.Cmp(qa) < 0 {
		return qb
	}
	return qa
}
