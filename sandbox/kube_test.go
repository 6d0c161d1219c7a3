package sandbox_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/specloop/specloop/sandbox"
)

// The kubernetes driver's tests need a cluster: .ci/run brings one up
// (scripts/kube/up.sh) and sets KUBECONFIG. Without one they say so and
// skip; CI always has one.
func kubeCluster(t *testing.T) (kubernetes.Interface, string) {
	t.Helper()
	if os.Getenv("KUBECONFIG") == "" {
		t.Skip("no cluster: KUBECONFIG is not set (scripts/kube/up.sh brings one up)")
	}
	rc, err := sandbox.KubeRESTConfig(os.Getenv)
	require.NoError(t, err)
	c, err := kubernetes.NewForConfig(rc)
	require.NoError(t, err)
	ns := os.Getenv("KUBE_NAMESPACE")
	if ns == "" {
		ns = "specloop-sandbox"
	}
	return c, ns
}

func kubeDriver(t *testing.T, cfg sandbox.KubeConfig) sandbox.Driver {
	t.Helper()
	_, ns := kubeCluster(t)
	rc, err := sandbox.KubeRESTConfig(os.Getenv)
	require.NoError(t, err)
	cfg.Namespace = ns
	if cfg.Image == "" {
		cfg.Image = os.Getenv("KUBE_SANDBOX_IMAGE")
	}
	d, err := sandbox.NewKube(rc, cfg, nil)
	require.NoError(t, err)
	return d
}

func TestKubernetes(t *testing.T) {
	// Not parallel: runSuite uses t.Setenv.
	d := kubeDriver(t, sandbox.KubeConfig{})
	require.Equal(t, "kubernetes", d.Name())
	runSuite(t, d)
}

func TestKubeNewFromEnv(t *testing.T) {
	kubeCluster(t)
	d, err := sandbox.New("kubernetes", nil)
	require.NoError(t, err)
	require.Equal(t, "kubernetes", d.Name())

	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err = sandbox.New("kubernetes", nil)
	require.ErrorContains(t, err, "neither in a cluster nor KUBECONFIG set")
}

// The pod of a run: labelled with its cycle and worker, no token, non-root,
// a read-only root, no capabilities, cgroup limits, a deadline.
func TestKubePodContract(t *testing.T) {
	t.Parallel()
	client, ns := kubeCluster(t)
	d := kubeDriver(t, sandbox.KubeConfig{Memory: "256Mi", CPU: "500m", Ephemeral: "1Gi"})
	ctx := sandbox.WithLabels(context.Background(), sandbox.Labels{Cycle: 4242, Worker: "host-a/17/beef/job-9"})

	type seen struct {
		pod *corev1.Pod
		err error
	}
	got := make(chan seen, 1)
	go func() {
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			l, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sandbox.KubeLabelCycle + "=4242"})
			if err != nil {
				got <- seen{err: err}
				return
			}
			if len(l.Items) > 0 {
				got <- seen{pod: &l.Items[0]}
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		got <- seen{err: context.DeadlineExceeded}
	}()
	res, err := d.Run(ctx, sandbox.Spec{Dir: workDir(t), Timeout: time.Minute, Limits: sandbox.Limits{CPU: time.Hour, AddressSpace: sandbox.AgentMemory}, Shell: `
		id -u
		ulimit -t
		touch /root-is-writable 2>/dev/null && echo root writable || echo root read-only
		ls /var/run/secrets/kubernetes.io/serviceaccount 2>/dev/null && echo token || echo no token
		grep CapEff /proc/self/status
		cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max
		touch "$HOME/home-writable" && echo home writable
		env | grep -c KUBERNETES || true
		sleep 1`})
	require.NoError(t, err)
	require.Equal(t, 0, res.ExitCode, "%s", res.Output)
	require.Equal(t, "1000\n3600\nroot read-only\nno token\nCapEff:\t0000000000000000\n268435456\nhome writable\n0\n", string(res.Output))

	s := <-got
	require.NoError(t, s.err)
	p := s.pod
	require.Equal(t, "host-a_17_beef_job-9", p.Labels[sandbox.KubeLabelWorker])
	require.Equal(t, "host-a/17/beef/job-9", p.Annotations[sandbox.KubeAnnotOwner])
	require.Equal(t, "none", p.Labels[sandbox.KubeLabelNetwork])
	require.False(t, *p.Spec.AutomountServiceAccountToken)
	require.NotNil(t, p.Spec.ActiveDeadlineSeconds)
	require.LessOrEqual(t, *p.Spec.ActiveDeadlineSeconds, int64((time.Minute + sandbox.DefaultGrace + 5*time.Minute).Seconds()))
	c := p.Spec.Containers[0]
	require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	require.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
	require.Equal(t, "500m", c.Resources.Limits.Cpu().String())
	require.Equal(t, "1Gi", c.Resources.Limits.StorageEphemeral().String())

	// Gone once Run returned.
	_, err = client.CoreV1().Pods(ns).Get(context.Background(), p.Name, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "pod %s outlived Run: %v", p.Name, err)
}

// The agent works in the pod with git, and its commit comes back.
func TestKubeGit(t *testing.T) {
	t.Parallel()
	d := kubeDriver(t, sandbox.KubeConfig{})
	dir := workDir(t)
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return string(out)
	}
	git("init", "-q", "-b", "main")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.txt"), []byte("one\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "gone.txt"), []byte("bye\n"), 0o644))
	git("add", ".")
	git("commit", "-q", "-m", "first")

	res := run(t, d, sandbox.Spec{Dir: dir, Shell: `set -e
		git status --porcelain
		echo two >> a.txt
		git rm -q gone.txt
		git -c user.name=agent -c user.email=agent@example.com commit -q -am second
		git log --format=%s`})
	require.Equal(t, 0, res.ExitCode, "%s", res.Output)
	require.Equal(t, "second\nfirst\n", string(res.Output))
	require.Equal(t, "second\nfirst\n", git("log", "--format=%s"))
	require.Empty(t, git("status", "--porcelain"))
	_, err := os.Stat(filepath.Join(dir, "gone.txt"))
	require.True(t, os.IsNotExist(err))
}

// A command that outgrows the memory limit is killed by the kernel, and
// the result says so.
func TestKubeOOM(t *testing.T) {
	t.Parallel()
	d := kubeDriver(t, sandbox.KubeConfig{Memory: "64Mi"})
	res := run(t, d, sandbox.Spec{Dir: workDir(t), Shell: `x=$(head -c 200000000 /dev/zero | tr '\0' a); echo survived ${#x}`})
	require.True(t, res.OOMKilled, "%s", res.Output)
	require.Equal(t, 137, res.ExitCode)
	require.Contains(t, string(res.Output), "killed: out of memory at 64 MiB")
	require.NotContains(t, string(res.Output), "survived")
}

// firstWrite signals its first write.
type firstWrite struct {
	once sync.Once
	ch   chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (w *firstWrite) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	w.once.Do(func() { close(w.ch) })
	return len(p), nil
}

// Output streams while the command runs, and a cancel deletes the pod at
// once: Run returns and the pod is gone within a second.
func TestKubeStreamAndCancel(t *testing.T) {
	t.Parallel()
	client, ns := kubeCluster(t)
	d := kubeDriver(t, sandbox.KubeConfig{})
	ctx, cancel := context.WithCancel(sandbox.WithLabels(context.Background(), sandbox.Labels{Cycle: 4343}))
	defer cancel()
	live := &firstWrite{ch: make(chan struct{})}
	type ran struct {
		res sandbox.Result
		err error
		at  time.Time
	}
	done := make(chan ran, 1)
	go func() {
		res, err := d.Run(ctx, sandbox.Spec{Dir: workDir(t), Shell: "echo first; exec sleep 120", Stdout: live, Timeout: 3 * time.Minute})
		done <- ran{res, err, time.Now()}
	}()
	select {
	case <-live.ch:
	case r := <-done:
		t.Fatalf("Run ended before any output streamed: %+v %v", r.res, r.err)
	case <-time.After(time.Minute):
		t.Fatal("no output streamed within a minute")
	}
	l, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sandbox.KubeLabelCycle + "=4343"})
	require.NoError(t, err)
	require.Len(t, l.Items, 1)
	stopped := time.Now()
	cancel()
	r := <-done
	require.NoError(t, r.err)
	require.True(t, r.res.Cancelled)
	require.Less(t, r.at.Sub(stopped), time.Second, "Run took too long to return after the cancel")
	_, err = client.CoreV1().Pods(ns).Get(context.Background(), l.Items[0].Name, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "pod survived the cancel: %v", err)
	live.mu.Lock()
	require.True(t, strings.HasPrefix(live.buf.String(), "first\n"))
	live.mu.Unlock()
}

// The reaper deletes pods no live cycle owns: past their deadline, or of a
// worker that is gone; a live worker's pod stays.
func TestKubeReap(t *testing.T) {
	t.Parallel()
	client, ns := kubeCluster(t)
	d := kubeDriver(t, sandbox.KubeConfig{})
	yes, no, uid := true, false, int64(1000)
	mk := func(owner string, deadline time.Time) string {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "reap-test-", Labels: map[string]string{
				sandbox.KubeLabelApp: sandbox.KubeAppName, sandbox.KubeLabelWorker: "reap-test",
			}, Annotations: map[string]string{sandbox.KubeAnnotOwner: owner, sandbox.KubeAnnotDeadline: deadline.UTC().Format(time.RFC3339)}},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				// Never scheduled: the reaper decides by labels alone.
				NodeSelector: map[string]string{"specloop.dev/nowhere": "true"},
				// What a restricted namespace with a quota admits.
				SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid,
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
				Containers: []corev1.Container{{Name: "sandbox", Image: "specloop.local/none:never",
					SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no,
						Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
						corev1.ResourceEphemeralStorage: resource.MustParse("64Mi")}}}},
			},
		}
		p, err := client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{})
		require.NoError(t, err)
		return p.Name
	}
	live := mk("reap-test-live", time.Now().Add(time.Hour))
	dead := mk("reap-test-dead", time.Now().Add(time.Hour))
	late := mk("reap-test-live", time.Now().Add(-time.Minute))
	t.Cleanup(func() {
		zero := int64(0)
		_ = client.CoreV1().Pods(ns).Delete(context.Background(), live, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	r, ok := d.(sandbox.Reaper)
	require.True(t, ok)
	n, err := r.Reap(context.Background(), func(_ context.Context, p sandbox.PodOwner) (bool, error) {
		if !strings.HasPrefix(p.Owner, "reap-test-") {
			return true, nil // other tests' pods
		}
		return p.Owner == "reap-test-live", nil
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 2)
	for name, want := range map[string]bool{live: true, dead: false, late: false} {
		_, err := client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if want {
			require.NoError(t, err, name)
		} else {
			require.True(t, apierrors.IsNotFound(err), "%s: %v", name, err)
		}
	}
}

// A Unix socket bound into the sandbox (the model proxy's) is reachable in
// the pod, through the worker's exec stream: here the model bridge in the
// image carries an HTTP request from the pod's loopback to a server on the
// worker's socket.
func TestKubeSocketForward(t *testing.T) {
	t.Parallel()
	d := kubeDriver(t, sandbox.KubeConfig{})
	sockDir := t.TempDir()
	sock := filepath.Join(sockDir, "proxy.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proxy saw %s %s", r.Method, r.URL.Path)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	res := run(t, d, sandbox.Spec{
		Dir:   workDir(t),
		Binds: []sandbox.Bind{{Src: sock, Dst: "/run/specloop/model.sock"}},
		Shell: "/usr/local/bin/specloop model-bridge --listen 127.0.0.1:41100 --socket /run/specloop/model.sock -- " +
			"sh -c 'wget -qO- http://127.0.0.1:41100/v1/responses; echo; wget -qO- http://127.0.0.1:41100/second'",
	})
	require.Equal(t, 0, res.ExitCode, "%s", res.Output)
	require.Equal(t, "proxy saw GET /v1/responses\nproxy saw GET /second", string(res.Output))
}

// A pod whose activeDeadlineSeconds (the operator's MaxLifetime, 8 s)
// passes before the worker's own timeout (10 min), or with no timeout at
// all, ends the run as a timeout that names the pod's limit, not as a
// driver error or a crash.
func TestKubeDeadline(t *testing.T) {
	t.Parallel()
	d := kubeDriver(t, sandbox.KubeConfig{MaxLifetime: 8 * time.Second})
	for _, timeout := range []time.Duration{10 * time.Minute, 0} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		start := time.Now()
		res, err := d.Run(ctx, sandbox.Spec{Dir: workDir(t), Shell: "echo started; exec sleep 600", Timeout: timeout})
		cancel()
		require.NoError(t, err, "the deadline is a run's outcome, not the driver's failure")
		require.True(t, res.TimedOut, "%+v %s", res, res.Output)
		require.False(t, res.Cancelled)
		require.False(t, res.OOMKilled)
		require.Contains(t, string(res.Output), "started\n")
		require.Contains(t, string(res.Output), "killed: the sandbox pod's deadline (activeDeadlineSeconds: 8 s) passed")
		t.Logf("worker timeout %s: ended by the pod's deadline after %s", timeout, time.Since(start).Round(time.Millisecond))
	}
}

// A repo's own image (sandbox.image, allowed by the operator) is the
// image of its runs' pods; without one the driver's image is.
func TestKubeRepoImage(t *testing.T) {
	t.Parallel()
	client, ns := kubeCluster(t)
	d := kubeDriver(t, sandbox.KubeConfig{})
	for _, tc := range []struct {
		cycle int64
		image string
	}{{cycle: 4401, image: "specloop.local/sandbox:repo"}, {cycle: 4402}} {
		ctx := sandbox.WithImage(sandbox.WithLabels(context.Background(), sandbox.Labels{Cycle: tc.cycle}), tc.image)
		live := &firstWrite{ch: make(chan struct{})}
		done := make(chan error, 1)
		ctx, cancel := context.WithCancel(ctx)
		go func() {
			_, err := d.Run(ctx, sandbox.Spec{Dir: workDir(t), Shell: "echo up; exec sleep 120", Stdout: live, Timeout: 3 * time.Minute})
			done <- err
		}()
		select {
		case <-live.ch:
		case err := <-done:
			t.Fatalf("Run ended before any output: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("no output within a minute")
		}
		l, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sandbox.KubeLabelCycle + "=" + fmt.Sprint(tc.cycle)})
		require.NoError(t, err)
		require.Len(t, l.Items, 1)
		want := tc.image
		if want == "" {
			want = os.Getenv("KUBE_SANDBOX_IMAGE")
			if want == "" {
				want = "specloop.local/sandbox:dev"
			}
		}
		require.Equal(t, want, l.Items[0].Spec.Containers[0].Image)
		cancel()
		require.NoError(t, <-done)
	}
}
