package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/specloop/specloop/internal/stack"
)

// image is the image every manifest runs specloop from.
const image = "ghcr.io/specloop/specloop"

// knownEnv is every environment variable the specloop binary reads
// (app.Config, DESIGN.md's names). A manifest that sets anything else sets a
// name the binary ignores: a typo or a stale name.
var knownEnv = []string{
	"APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH",
	"WEBHOOK_SECRET", "WEBHOOK_SECRET_PREVIOUS",
	"DATABASE_URL", "GITHUB_API_URL", "PORT", "PUBLIC_URL",
	"WORKERS", "SANDBOX", "LOG_LEVEL", "RETENTION", "MIRROR_DIR",
	"SHUTDOWN_GRACE",
	"MIRROR_MAX_BYTES",
	"LEASE_TTL",
	"EVIDENCE_KEY", "EVIDENCE_KEY_PREVIOUS",
	"SANDBOX_TOOLS", "SANDBOX_MEMORY", "SANDBOX_CGROUP",
}

// imageEnv is what the Dockerfile may set besides knownEnv: for git,
// tini and the agent CLIs on PATH, not for specloop.
var imageEnv = []string{"HOME", "TINI_SUBREAPER", "PATH"}

// doc is one YAML document with the file it came from.
type doc struct {
	file string
	m    map[string]any
}

func (d doc) String() string {
	return fmt.Sprintf("%s: %s %s", d.file, str(d.m, "kind"), str(d.m, "metadata", "name"))
}

// load parses every YAML document of a file.
func load(t *testing.T, path string) []doc {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var docs []doc
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, path)
		if m != nil {
			docs = append(docs, doc{file: path, m: m})
		}
	}
	require.NotEmpty(t, docs, path)
	return docs
}

func kubeFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

func kubeDocs(t *testing.T) []doc {
	t.Helper()
	var docs []doc
	for _, f := range kubeFiles(t) {
		docs = append(docs, load(t, f)...)
	}
	return docs
}

// get walks maps by key and lists by index ("0").
func get(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, path ...string) string {
	s, _ := get(v, path...).(string)
	return s
}

func list(v any, path ...string) []any {
	l, _ := get(v, path...).([]any)
	return l
}

// podSpec is the pod template's spec of a workload.
func podSpec(d doc) map[string]any {
	switch str(d.m, "kind") {
	case "Deployment", "Job", "StatefulSet", "DaemonSet":
		m, _ := get(d.m, "spec", "template", "spec").(map[string]any)
		return m
	}
	return nil
}

func TestEveryFileParses(t *testing.T) {
	t.Parallel()
	for _, d := range kubeDocs(t) {
		require.NotEmpty(t, str(d.m, "apiVersion"), d.file)
		require.NotEmpty(t, str(d.m, "kind"), d.file)
		if str(d.m, "kind") != "Kustomization" {
			require.NotEmpty(t, str(d.m, "metadata", "name"), d.file)
		}
	}
	load(t, "compose.yaml")
}

func TestWorkloads(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, d := range kubeDocs(t) {
		spec := podSpec(d)
		if spec == nil {
			continue
		}
		kind, component := str(d.m, "kind"), str(d.m, "metadata", "labels", "app.kubernetes.io/component")
		seen[kind+"/"+component] = true
		t.Run(d.String(), func(t *testing.T) {
			require.Equal(t, false, get(spec, "automountServiceAccountToken"), "no Kubernetes token for the sandbox to find")
			require.Equal(t, true, get(spec, "securityContext", "runAsNonRoot"))
			require.Equal(t, 10001, get(spec, "securityContext", "runAsUser"), "the image's user")
			containers := list(spec, "containers")
			require.NotEmpty(t, containers)
			for _, c := range containers {
				name := str(c, "name")
				require.True(t, strings.HasPrefix(str(c, "image"), image+":"), name)
				for _, kind := range []string{"requests", "limits"} {
					for _, res := range []string{"cpu", "memory"} {
						require.NotNil(t, get(c, "resources", kind, res), "%s: resources.%s.%s", name, kind, res)
					}
				}
				require.Equal(t, false, get(c, "securityContext", "allowPrivilegeEscalation"), name)
				require.Equal(t, true, get(c, "securityContext", "readOnlyRootFilesystem"), name)
				require.Equal(t, []any{"ALL"}, get(c, "securityContext", "capabilities", "drop"), name)
				if uid, ok := get(c, "securityContext", "runAsUser").(int); ok {
					require.NotZero(t, uid, name)
				}
				if kind != "Deployment" {
					continue
				}
				require.NotNil(t, get(c, "livenessProbe"), "%s: every Deployment has a liveness probe", name)
				require.Equal(t, "/healthz", str(c, "livenessProbe", "httpGet", "path"), name)
				for _, probe := range []string{"livenessProbe", "readinessProbe"} {
					if port := str(c, probe, "httpGet", "port"); port != "" {
						require.True(t, slices.ContainsFunc(list(c, "ports"), func(p any) bool { return str(p, "name") == port }),
							"%s: %s names port %q, which the container does not declare", name, probe, port)
					}
				}
				if component == "web" {
					require.Equal(t, "/readyz", str(c, "readinessProbe", "httpGet", "path"), name)
				}
			}
		})
	}
	for _, want := range []string{"Deployment/web", "Deployment/worker", "Job/migrate"} {
		require.True(t, seen[want], "no %s", want)
	}
}

func findDoc(t *testing.T, kind, name string) doc {
	t.Helper()
	for _, d := range kubeDocs(t) {
		if str(d.m, "kind") == kind && str(d.m, "metadata", "name") == name {
			return d
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return doc{}
}

func TestWeb(t *testing.T) {
	t.Parallel()
	web := findDoc(t, "Deployment", "specloop-web")
	require.Equal(t, 2, get(web.m, "spec", "replicas"))
	spec := podSpec(web)
	require.Equal(t, "RuntimeDefault", str(spec, "securityContext", "seccompProfile", "type"))
	require.Equal(t, []any{"web"}, get(spec, "containers", "0", "args"))
	labels := get(web.m, "spec", "template", "metadata", "labels")

	svc := findDoc(t, "Service", "specloop-web")
	require.Equal(t, labels, get(svc.m, "spec", "selector"))
	pdb := findDoc(t, "PodDisruptionBudget", "specloop-web")
	require.Equal(t, 1, get(pdb.m, "spec", "minAvailable"))
	require.Equal(t, labels, get(pdb.m, "spec", "selector", "matchLabels"))
}

func TestWorkerSandbox(t *testing.T) {
	t.Parallel()
	worker := findDoc(t, "Deployment", "specloop-worker")
	spec := podSpec(worker)
	require.Equal(t, []any{"worker"}, get(spec, "containers", "0", "args"))
	// bubblewrap: user namespaces (seccomp, AppArmor) and a fresh /proc.
	require.Equal(t, "Unconfined", str(spec, "securityContext", "seccompProfile", "type"))
	require.Equal(t, "Unconfined", str(spec, "securityContext", "appArmorProfile", "type"))
	require.Equal(t, false, get(spec, "hostUsers"))
	c := get(spec, "containers", "0")
	require.Equal(t, "Unmasked", str(c, "securityContext", "procMount"))
	require.Nil(t, get(c, "securityContext", "privileged"))
	require.Nil(t, get(c, "securityContext", "capabilities", "add"))

	// The mirror cache and /tmp are writable volumes; the root is not.
	mounts := map[string]bool{}
	for _, m := range list(c, "volumeMounts") {
		mounts[str(m, "mountPath")] = true
	}
	config := findDoc(t, "ConfigMap", "specloop")
	require.True(t, mounts[str(config.m, "data", "MIRROR_DIR")], "MIRROR_DIR is a volume")
	require.True(t, mounts["/tmp"])

	job := findDoc(t, "Job", "specloop-migrate")
	require.Equal(t, []any{"migrate"}, get(podSpec(job), "containers", "0", "args"))
}

func TestKustomization(t *testing.T) {
	t.Parallel()
	k := load(t, filepath.Join("kubernetes", "kustomization.yaml"))[0].m
	listed := map[string]bool{"kustomization.yaml": true}
	for _, r := range list(k, "resources") {
		name := r.(string)
		_, err := os.Stat(filepath.Join("kubernetes", name))
		require.NoError(t, err, "kustomization.yaml lists %s", name)
		listed[name] = true
	}
	for _, f := range kubeFiles(t) {
		base := filepath.Base(f)
		if strings.HasSuffix(base, ".example.yaml") {
			require.False(t, listed[base], "%s is a template: applying the base must not overwrite real values", base)
			continue
		}
		require.True(t, listed[base], "%s is not in kustomization.yaml", base)
	}
	require.Equal(t, image, str(k, "images", "0", "name"))

	// With kubectl at hand, build the base as kustomize would.
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not found: kustomize build not checked")
		return
	}
	out, err := exec.Command(kubectl, "kustomize", "kubernetes").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "image: "+image+":"+str(k, "images", "0", "newTag"))
}

func TestSecretTemplate(t *testing.T) {
	t.Parallel()
	secret := findDoc(t, "Secret", "specloop")
	data, _ := get(secret.m, "stringData").(map[string]any)
	for _, name := range []string{"APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "DATABASE_URL"} {
		require.Contains(t, data, name)
	}
}

func TestCompose(t *testing.T) {
	t.Parallel()
	c := load(t, "compose.yaml")[0].m
	pg := get(c, "services", "postgres")
	require.True(t, strings.HasPrefix(str(pg, "image"), "postgres:15"))
	require.Contains(t, fmt.Sprint(get(pg, "healthcheck", "test")), "pg_isready")

	s := get(c, "services", "specloop")
	require.Equal(t, "${SPECLOOP_IMAGE:-"+image+":dev}", str(s, "image"))
	require.Equal(t, []any{"serve"}, get(s, "command"))
	require.Equal(t, "service_healthy", str(s, "depends_on", "postgres", "condition"))
	require.Equal(t, "specloop.env", str(s, "env_file"))
	for _, opt := range []string{"seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined", "no-new-privileges:true"} {
		require.Contains(t, list(s, "security_opt"), opt)
	}
	require.Nil(t, get(s, "privileged"))
	require.Contains(t, fmt.Sprint(get(s, "healthcheck", "test")), "/readyz")
	require.Contains(t, list(s, "ports"), "3000:3000")
	mirror := str(s, "environment", "MIRROR_DIR")
	require.Contains(t, list(s, "volumes"), "mirrors:"+mirror)
	require.Contains(t, get(c, "volumes"), "mirrors")
	// The healthcheck runs a tool the image has.
	require.Equal(t, "curl", str(s, "healthcheck", "test", "1"))
	require.Contains(t, dockerfile(t).runtimePackages(), "curl")
}

// envNames lists the environment variable names the manifests set or read
// for specloop, each with where.
func envNames(t *testing.T) map[string]string {
	t.Helper()
	names := map[string]string{}
	add := func(name, where string) {
		if _, ok := names[name]; !ok {
			names[name] = where
		}
	}
	for _, d := range kubeDocs(t) {
		switch str(d.m, "kind") {
		case "ConfigMap":
			for k := range get(d.m, "data").(map[string]any) {
				add(k, d.String())
			}
		case "Secret":
			for k := range get(d.m, "stringData").(map[string]any) {
				add(k, d.String())
			}
		}
		spec := podSpec(d)
		for _, c := range append(list(spec, "containers"), list(spec, "initContainers")...) {
			for _, e := range list(c, "env") {
				add(str(e, "name"), d.String())
				if k := str(e, "valueFrom", "secretKeyRef", "key"); k != "" {
					add(k, d.String())
				}
				if k := str(e, "valueFrom", "configMapKeyRef", "key"); k != "" {
					add(k, d.String())
				}
			}
		}
	}
	c := load(t, "compose.yaml")[0].m
	for k := range get(c, "services", "specloop", "environment").(map[string]any) {
		add(k, "compose.yaml")
	}
	return names
}

// unknownEnv reports the names the binary does not read.
func unknownEnv(names map[string]string) error {
	var errs []error
	for name, where := range names {
		if !slices.Contains(knownEnv, name) {
			errs = append(errs, fmt.Errorf("%s: %s is not an environment variable specloop reads", where, name))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

func TestEnvNames(t *testing.T) {
	t.Parallel()
	names := envNames(t)
	require.NoError(t, unknownEnv(names))
	for _, name := range []string{"APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "DATABASE_URL", "PUBLIC_URL"} {
		require.Contains(t, names, name)
	}

	// A stale name fails.
	err := unknownEnv(map[string]string{"GITHUB_TOKEN": "stale.yaml", "PORT": "ok.yaml"})
	require.ErrorContains(t, err, "stale.yaml: GITHUB_TOKEN is not")
	require.NotContains(t, err.Error(), "PORT")

	for _, name := range dockerfile(t).env() {
		if !slices.Contains(imageEnv, name) {
			require.Contains(t, knownEnv, name, "Dockerfile ENV")
		}
	}
}

// TestKnownEnvIsTheBinarys keeps knownEnv true: each name is read by the
// server's configuration.
func TestKnownEnvIsTheBinarys(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", "app", "config.go"))
	require.NoError(t, err)
	read := map[string]bool{}
	for _, m := range regexp.MustCompile(`getenv\("([A-Z_]+)"\)`).FindAllStringSubmatch(string(src), -1) {
		read[m[1]] = true
	}
	for _, name := range knownEnv {
		require.True(t, read[name], "app/config.go does not read %s any more: drop it from knownEnv and the manifests", name)
	}
}

// stage is one FROM ... stage of the Dockerfile, its instructions with
// continuation lines joined.
type stage struct {
	from  string
	instr []string
}

type dockerStages []stage

func dockerfile(t *testing.T) dockerStages {
	t.Helper()
	raw, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	var stages dockerStages
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stages = append(stages, stage{from: line})
			return
		}
		if len(stages) > 0 {
			stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, line)
		}
	}
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	require.GreaterOrEqual(t, len(stages), 2, "a multi-stage build")
	return stages
}

func (s dockerStages) runtime() stage { return s[len(s)-1] }

func (st stage) all(keyword string) []string {
	var out []string
	for _, in := range st.instr {
		if k, rest, _ := strings.Cut(in, " "); strings.EqualFold(k, keyword) {
			out = append(out, strings.TrimSpace(rest))
		}
	}
	return out
}

func (s dockerStages) runtimePackages() []string {
	var pkgs []string
	for _, run := range s.runtime().all("RUN") {
		for _, cmd := range strings.Split(run, "&&") {
			f := strings.Fields(cmd)
			if len(f) < 2 || f[0] != "apt-get" || !slices.Contains(f, "install") {
				continue
			}
			for _, w := range f[slices.Index(f, "install")+1:] {
				if !strings.HasPrefix(w, "-") {
					pkgs = append(pkgs, w)
				}
			}
		}
	}
	return pkgs
}

func (s dockerStages) env() []string {
	var names []string
	for _, st := range s {
		for _, e := range st.all("ENV") {
			for _, m := range regexp.MustCompile(`(?:^|\s)([A-Z_][A-Z0-9_]*)=`).FindAllStringSubmatch(e, -1) {
				names = append(names, m[1])
			}
		}
	}
	return names
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	stages := dockerfile(t)

	build := stages[0]
	require.Regexp(t, `^FROM golang:\$\{GO_VERSION\}-bookworm AS build$`, build.from)
	buildCmd := strings.Join(build.all("RUN"), "\n")
	require.Contains(t, buildCmd, "CGO_ENABLED=0 go build -trimpath")
	require.Contains(t, buildCmd, "-X main.version=${VERSION}")
	require.Contains(t, buildCmd, "./cmd/specloop")
	require.Contains(t, build.all("ARG"), "VERSION=dev")

	// The Go in the image is the module's.
	raw, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	goMod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	require.NoError(t, err)
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)
	require.NotNil(t, goVersion)
	require.Contains(t, string(raw), "ARG GO_VERSION="+string(goVersion[1])+"\n")

	rt := stages.runtime()
	require.True(t, strings.HasPrefix(rt.from, "FROM debian:bookworm-slim"), rt.from)
	pkgs := stages.runtimePackages()
	for _, p := range []string{"git", "bubblewrap", "ca-certificates", "tini", "util-linux"} {
		require.Contains(t, pkgs, p)
	}
	users := rt.all("USER")
	require.NotEmpty(t, users, "the runtime stage sets a USER")
	user := users[len(users)-1]
	require.NotContains(t, []string{"root", "0", "0:0"}, user)
	require.Equal(t, "10001:10001", user, "the uid the Kubernetes manifests run as")
	require.Contains(t, strings.Join(rt.all("RUN"), "\n"), "useradd --system --uid 10001")
	require.Equal(t, []string{`["tini", "--", "specloop"]`}, rt.all("ENTRYPOINT"))
	require.Equal(t, []string{`["serve"]`}, rt.all("CMD"))
	require.Equal(t, []string{"3000"}, rt.all("EXPOSE"))
	require.Contains(t, rt.all("COPY"), "--from=build /out/specloop /usr/local/bin/specloop")
	require.Contains(t, strings.Join(rt.all("ENV"), " "), "MIRROR_DIR=/var/lib/specloop/mirrors")
	require.Equal(t, []string{"/var/lib/specloop"}, rt.all("VOLUME"))

	// A real agent ships: node and the pinned Codex and Claude Code CLIs,
	// on PATH, from a stage of their own.
	var agents *stage
	for i := range stages {
		if strings.HasSuffix(stages[i].from, " AS agents") {
			agents = &stages[i]
		}
	}
	require.NotNil(t, agents, "an agents stage installs the CLIs")
	install := strings.Join(agents.all("RUN"), "\n")
	require.Contains(t, install, `"@openai/codex@${CODEX_VERSION}" "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}"`)
	// The releases the presets are tested against (.ci/run installs the same).
	require.Contains(t, string(raw), "ARG CODEX_VERSION="+stack.CodexVersion+"\n")
	require.Contains(t, string(raw), "ARG CLAUDE_CODE_VERSION="+stack.ClaudeCodeVersion+"\n")
	ci, err := os.ReadFile(filepath.Join("..", ".ci", "run"))
	require.NoError(t, err)
	require.Contains(t, string(ci), "CODEX_VERSION="+stack.CodexVersion+"\n")
	require.Contains(t, string(ci), "CLAUDE_VERSION="+stack.ClaudeCodeVersion+"\n")
	require.Contains(t, string(ci), "GEMINI_VERSION="+stack.GeminiCLIVersion+"\n")
	require.Contains(t, string(ci), "OPENCODE_VERSION="+stack.OpencodeVersion+"\n")
	require.Contains(t, rt.all("COPY"), "--from=agents /opt/specloop/agents /opt/specloop/agents")
	require.Contains(t, rt.all("COPY"), "--from=agents /usr/local/bin/node /usr/local/bin/node")
	require.Contains(t, strings.Join(rt.all("ENV"), " "), "PATH=/opt/specloop/agents/node_modules/.bin:")
}

// TestDocsNameTheManifest keeps docs/deploy.md's "why" list in step with
// app.yml: each permission and event is explained.
func TestDocsNameTheManifest(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "app.yml"))
	require.NoError(t, err)
	var manifest struct {
		Permissions map[string]string `yaml:"default_permissions"`
		Events      []string          `yaml:"default_events"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &manifest))
	docs, err := os.ReadFile(filepath.Join("..", "docs", "deploy.md"))
	require.NoError(t, err)
	for name, level := range manifest.Permissions {
		require.Contains(t, string(docs), fmt.Sprintf("| `%s` | %s |", name, level), "docs/deploy.md explains permission %s", name)
	}
	for _, event := range manifest.Events {
		require.Contains(t, string(docs), fmt.Sprintf("| `%s` |", event), "docs/deploy.md explains event %s", event)
	}
	// Delivered to every app; a manifest cannot ask for them.
	for _, event := range []string{"installation", "installation_repositories"} {
		require.NotContains(t, manifest.Events, event)
		require.Contains(t, string(docs), fmt.Sprintf("| `%s` |", event))
	}
	require.Contains(t, string(docs), "docker build -f deploy/Dockerfile")
}
