package sandbox_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/remotecommand"
)

// TestKubeNetworkPolicy: with deploy/kubernetes-sandboxes' NetworkPolicies
// applied to the sandbox namespace, and the local cluster's policy engine
// (kube-router, scripts/kube/up.sh) enforcing them, a sandbox pod connects
// to nothing: not another sandbox pod, not a pod of another namespace, not
// a listener on the node's bridge address. A control pod in a namespace no
// policy selects reaches the node and its peer, so the test fails when
// nothing enforces the policies; and it cannot reach into a sandbox pod
// (ingress denied). It needs the cluster's admin (SPECLOOP_KUBE_ADMIN, a
// kubeconfig) for the control namespace, and the node's bridge address
// (SPECLOOP_KUBE_BRIDGE_ADDR); .ci/run sets both.
func TestKubeNetworkPolicy(t *testing.T) {
	_, ns := kubeCluster(t)
	adminPath, bridge := os.Getenv("SPECLOOP_KUBE_ADMIN"), os.Getenv("SPECLOOP_KUBE_BRIDGE_ADDR")
	if adminPath == "" || bridge == "" {
		t.Skip("SPECLOOP_KUBE_ADMIN and SPECLOOP_KUBE_BRIDGE_ADDR are not set (.ci/run sets them)")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", adminPath)
	require.NoError(t, err)
	admin, err := kubernetes.NewForConfig(rc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	cns, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "specloop-netpol-control-"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	control := cns.Name
	t.Cleanup(func() {
		zero := int64(0)
		_ = admin.CoreV1().Namespaces().Delete(context.Background(), control, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})

	// A listener on the node's bridge address: what a pod would reach of
	// the host (its services bound to every address).
	ln, err := net.Listen("tcp", net.JoinHostPort(bridge, "0"))
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	node := ln.Addr().String()

	server := `exec nc -ll -p 8080 -e /bin/true`
	sandboxServer := netpolPod(ctx, t, admin, ns, "np-sandbox-server", server)
	sandboxClient := netpolPod(ctx, t, admin, ns, "np-sandbox-client", "")
	controlServer := netpolPod(ctx, t, admin, control, "np-control-server", server)
	controlClient := netpolPod(ctx, t, admin, control, "np-control-client", "")

	for _, tc := range []struct {
		from *corev1.Pod
		to   string
		what string
		want bool
	}{
		{controlClient, controlServer.Status.PodIP + ":8080", "control pod → control pod", true},
		{controlClient, node, "control pod → node's bridge address", true},
		{sandboxClient, sandboxServer.Status.PodIP + ":8080", "sandbox pod → sandbox pod", false},
		{sandboxClient, controlServer.Status.PodIP + ":8080", "sandbox pod → control pod", false},
		{sandboxClient, node, "sandbox pod → node's bridge address", false},
		{controlClient, sandboxServer.Status.PodIP + ":8080", "control pod → sandbox pod", false},
	} {
		t.Run(tc.what, func(t *testing.T) {
			got := connects(ctx, t, rc, admin, tc.from, tc.to)
			require.Equal(t, tc.want, got, "%s (%s)", tc.what, tc.to)
		})
	}
}

// netpolPod starts a pod that meets Pod Security restricted and runs cmd
// (the image's idle entrypoint when empty), and returns it running.
func netpolPod(ctx context.Context, t *testing.T, c kubernetes.Interface, ns, name, cmd string) *corev1.Pod {
	t.Helper()
	image := os.Getenv("KUBE_SANDBOX_IMAGE")
	if image == "" {
		image = "specloop.local/sandbox:dev"
	}
	yes, no, uid, zero := true, false, int64(1000), int64(0)
	ctr := corev1.Container{
		Name: "main", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot: &yes, RunAsUser: &uid, AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
			Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		// The sandbox namespace's ResourceQuota wants limits on every pod.
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
			corev1.ResourceEphemeralStorage: resource.MustParse("64Mi"),
		}},
	}
	if cmd != "" {
		ctr.Command = []string{"/bin/sh", "-c", cmd}
	}
	p, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"specloop.dev/test": "netpol"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{ctr}, AutomountServiceAccountToken: &no,
			TerminationGracePeriodSeconds: &zero, RestartPolicy: corev1.RestartPolicyNever,
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	require.Eventually(t, func() bool {
		p, err = c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != ""
	}, 2*time.Minute, 200*time.Millisecond, "pod %s/%s running", ns, name)
	return p
}

// connects reports whether a TCP connection from pod to addr succeeds
// within 3 s; a policy's DROP makes it time out.
func connects(ctx context.Context, t *testing.T, rc *rest.Config, c kubernetes.Interface, pod *corev1.Pod, addr string) bool {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	req := c.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: "main", Stdout: true, Stderr: true,
			Command: []string{"/bin/sh", "-c", fmt.Sprintf("nc -w 3 %s %s </dev/null && echo connected || echo refused", host, port)},
		}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(rc, "POST", req.URL())
	require.NoError(t, err)
	// Two buffers: the streams are copied concurrently.
	var out, errOut bytes.Buffer
	require.NoError(t, ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}))
	s := strings.TrimSpace(out.String())
	require.Contains(t, []string{"connected", "refused"}, s, "stderr: %s", errOut.String())
	return s == "connected"
}
