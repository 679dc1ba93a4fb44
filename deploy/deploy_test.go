package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// flagNames are the flags of cmd/catqms, read from its options table (each
// reads CATQMS_<UPPER_SNAKE>), so that a renamed or removed flag fails here.
var flagNames = func() []string {
	src, err := os.ReadFile("../cmd/catqms/config.go")
	if err != nil {
		panic(err) // the test runs in this package's directory
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\t\{name: "([a-z0-9-]+)"`).FindAllSubmatch(src, -1) {
		names = append(names, string(m[1]))
	}
	return names
}()

// TestFlagNamesFound guards the parse above: it must find the flags SPEC
// names, or every check below would pass on an empty list.
func TestFlagNamesFound(t *testing.T) {
	for _, want := range []string{"addr", "redis-url", "head-window", "view-window", "counters",
		"ban-duration", "max-tickets-per-ip", "max-queue", "trusted-proxies", "images", "admin-token"} {
		if !slices.Contains(flagNames, want) {
			t.Errorf("flag --%s not found in cmd/catqms/config.go's options (found %v)", want, flagNames)
		}
	}
}

// containerPort is where catqms listens in every deployment (--addr :8080).
const containerPort = 8080

// Paths relative to this package's directory.
const (
	repoRoot    = ".."
	composePath = "../docker-compose.yaml"
	dockerfile  = "../Dockerfile"
	nginxConf   = "nginx/nginx.conf"
	nginxTmpl   = "nginx/loopback.conf.tmpl"
	k8sDir      = "kubernetes"
	systemdUnit = "systemd/catqms.service"
)

// envName returns the environment variable that mirrors a flag.
func envName(flag string) string {
	return "CATQMS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func knownEnv() map[string]bool {
	m := make(map[string]bool, len(flagNames))
	for _, f := range flagNames {
		m[envName(f)] = true
	}
	return m
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// report fails t with every problem, one per line.
func report(t *testing.T, what string, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Errorf("%s: %s", what, p)
	}
}

// ---------------------------------------------------------------- env names

var envRef = regexp.MustCompile(`\bCATQMS_[A-Z0-9_]+`)

// checkEnvNames reports every CATQMS_* name in text that is no flag's variable.
func checkEnvNames(text string) []string {
	known := knownEnv()
	var problems []string
	for _, name := range envRef.FindAllString(text, -1) {
		if !known[name] && !slices.Contains(problems, name) {
			problems = append(problems, name)
		}
	}
	for i, name := range problems {
		problems[i] = fmt.Sprintf("%s is not the variable of any catqms flag", name)
	}
	return problems
}

// deploymentFiles returns every deployment file (not Go code) by path.
func deploymentFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{
		composePath: readFile(t, composePath),
		dockerfile:  readFile(t, dockerfile),
	}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".go") {
			return err
		}
		files[path] = readFile(t, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestEnvNamesAreFlags(t *testing.T) {
	files := deploymentFiles(t)
	for _, must := range []string{nginxConf, systemdUnit, filepath.Join(k8sDir, "deployment.yaml")} {
		if _, ok := files[must]; !ok {
			t.Errorf("%s not found among the deployment files", must)
		}
	}
	for path, text := range files {
		report(t, path, checkEnvNames(text))
	}
}

// ---------------------------------------------------------------- docker-compose.yaml

type composeFile struct {
	Services map[string]composeService `json:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `json:"subnet"`
			} `json:"config"`
		} `json:"ipam"`
	} `json:"networks"`
	Volumes map[string]any `json:"volumes"`
}

type composeService struct {
	Image       string          `json:"image"`
	Build       any             `json:"build"`
	Command     any             `json:"command"`
	Environment any             `json:"environment"`
	Expose      []any           `json:"expose"`
	Ports       []any           `json:"ports"`
	Volumes     []any           `json:"volumes"`
	DependsOn   json.RawMessage `json:"depends_on"`
	Healthcheck *struct {
		Test any `json:"test"`
	} `json:"healthcheck"`
}

// env returns a service's environment, from either of compose's two forms.
func (s composeService) env() map[string]string {
	m := map[string]string{}
	switch e := s.Environment.(type) {
	case map[string]any:
		for k, v := range e {
			m[k] = fmt.Sprint(v)
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			m[k] = v
		}
	}
	return m
}

// words returns a command (string or list) as a flat string of its words.
func words(cmd any) string {
	switch c := cmd.(type) {
	case string:
		return strings.Join(strings.Fields(c), " ")
	case []any:
		var w []string
		for _, x := range c {
			w = append(w, fmt.Sprint(x))
		}
		return strings.Join(w, " ")
	}
	return ""
}

func (s composeService) isCatqms() bool {
	return s.Build != nil || strings.HasPrefix(s.Image, "catqms")
}

// dependsOnHealthy reports whether s waits for dep to be healthy.
func (s composeService) dependsOnHealthy(dep string) bool {
	var long map[string]struct {
		Condition string `json:"condition"`
	}
	if json.Unmarshal(s.DependsOn, &long) != nil {
		return false // the short list form cannot wait for health
	}
	return long[dep].Condition == "service_healthy"
}

var (
	nginxUpstreamBlock  = regexp.MustCompile(`(?s)upstream\s+catqms\s*\{(.*?)\}`)
	nginxUpstreamServer = regexp.MustCompile(`(?m)^\s*server\s+([^\s;]+)`)
)

// checkCompose checks docker-compose.yaml against itself and the nginx
// configuration it mounts.
func checkCompose(c composeFile, nginx string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	var subnets []string
	for _, n := range c.Networks {
		for _, cfg := range n.IPAM.Config {
			subnets = append(subnets, cfg.Subnet)
		}
	}
	if len(subnets) != 1 {
		add("want exactly one network with one explicit ipam subnet, found %q", subnets)
	}

	var replicas, proxies, redis []string
	for name, s := range c.Services {
		switch {
		case s.isCatqms():
			replicas = append(replicas, name)
		case strings.HasPrefix(s.Image, "nginx"):
			proxies = append(proxies, name)
		case strings.HasPrefix(s.Image, "redis"):
			redis = append(redis, name)
		}
	}
	sort.Strings(replicas)
	if len(replicas) != 3 {
		add("want 3 catqms replicas, found %q", replicas)
	}
	if len(redis) != 1 {
		add("want one redis service, found %q", redis)
	}
	if len(proxies) != 1 {
		add("want one nginx proxy service, found %q", proxies)
	}

	for _, name := range replicas {
		s := c.Services[name]
		env := s.env()
		if got, want := env["CATQMS_REDIS_URL"], "redis://redis:6379/0"; got != want {
			add("%s: CATQMS_REDIS_URL = %q, want %q", name, got, want)
		}
		if got := env["CATQMS_TRUSTED_PROXIES"]; len(subnets) != 1 || got != subnets[0] {
			add("%s: CATQMS_TRUSTED_PROXIES = %q, want the network's subnet %q", name, got, subnets)
		}
		if env["CATQMS_SECRET"] == "" {
			add("%s: CATQMS_SECRET is not set; replicas must share one", name)
		}
		if addr, ok := env["CATQMS_ADDR"]; ok && addr != ":"+strconv.Itoa(containerPort) {
			add("%s: CATQMS_ADDR = %q, want :%d", name, addr, containerPort)
		}
		if !slices.ContainsFunc(s.Expose, func(p any) bool { return fmt.Sprint(p) == strconv.Itoa(containerPort) }) {
			add("%s: does not expose %d", name, containerPort)
		}
		if len(s.Ports) != 0 {
			add("%s: publishes ports %v; only the proxy may", name, s.Ports)
		}
		if len(redis) == 1 && !s.dependsOnHealthy(redis[0]) {
			add("%s: does not depend on %s being healthy", name, redis[0])
		}
		for k := range env {
			if !knownEnv()[k] {
				add("%s: %s is not the variable of any catqms flag", name, k)
			}
		}
	}

	for _, name := range redis {
		s := c.Services[name]
		cmd := words(s.Command)
		for _, want := range []string{"--appendonly yes", "--appendfsync everysec"} {
			if !strings.Contains(cmd, want) {
				add("%s: command %q lacks %q", name, cmd, want)
			}
		}
		if s.Healthcheck == nil || words(s.Healthcheck.Test) == "" {
			add("%s: no healthcheck", name)
		}
		onNamedVolume := false
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(fmt.Sprint(v), ":")
			dst, _, _ = strings.Cut(dst, ":")
			if _, named := c.Volumes[src]; named && dst == "/data" {
				onNamedVolume = true
			}
		}
		if !onNamedVolume {
			add("%s: /data is not on a named volume (volumes %v)", name, s.Volumes)
		}
	}

	for _, name := range proxies {
		s := c.Services[name]
		if got := fmt.Sprint(s.Ports); got != "[8080:80]" {
			add("%s: ports %s, want [8080:80]", name, got)
		}
		if !slices.ContainsFunc(s.Volumes, func(v any) bool {
			return strings.HasPrefix(fmt.Sprint(v), "./deploy/nginx/nginx.conf:")
		}) {
			add("%s: does not mount ./deploy/nginx/nginx.conf", name)
		}
		for _, r := range replicas {
			if !s.dependsOnHealthy(r) {
				add("%s: does not wait for %s to be healthy", name, r)
			}
		}
	}

	var upstreams []string
	if block := nginxUpstreamBlock.FindStringSubmatch(nginxComment.ReplaceAllString(nginx, "")); block != nil {
		for _, m := range nginxUpstreamServer.FindAllStringSubmatch(block[1], -1) {
			upstreams = append(upstreams, m[1])
		}
	}
	var want []string
	for _, r := range replicas {
		want = append(want, r+":"+strconv.Itoa(containerPort))
	}
	sort.Strings(upstreams)
	if !slices.Equal(upstreams, want) {
		add("nginx upstream servers %q, want the replicas %q", upstreams, want)
	}
	return problems
}

func parseCompose(t *testing.T, text string) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(text), &c); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	return c
}

func TestCompose(t *testing.T) {
	report(t, composePath, checkCompose(parseCompose(t, readFile(t, composePath)), readFile(t, nginxConf)))
}

// ---------------------------------------------------------------- Kubernetes

type k8sObject struct {
	File       string `json:"-"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Data       map[string]string `json:"data"`
	StringData map[string]string `json:"stringData"`
	Resources  []string          `json:"resources"` // Kustomization
	Spec       json.RawMessage   `json:"spec"`
}

type deploymentSpec struct {
	Replicas *int `json:"replicas"`
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			SecurityContext *securityContext `json:"securityContext"`
			Containers      []container      `json:"containers"`
		} `json:"spec"`
	} `json:"template"`
}

type securityContext struct {
	RunAsNonRoot             *bool `json:"runAsNonRoot"`
	ReadOnlyRootFilesystem   *bool `json:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `json:"allowPrivilegeEscalation"`
}

type container struct {
	Name  string `json:"name"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	Env []struct {
		Name string `json:"name"`
	} `json:"env"`
	EnvFrom []struct {
		ConfigMapRef *struct {
			Name string `json:"name"`
		} `json:"configMapRef"`
		SecretRef *struct {
			Name string `json:"name"`
		} `json:"secretRef"`
	} `json:"envFrom"`
	ReadinessProbe *probe `json:"readinessProbe"`
	LivenessProbe  *probe `json:"livenessProbe"`
	StartupProbe   *probe `json:"startupProbe"`
	Resources      struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	} `json:"resources"`
	SecurityContext *securityContext `json:"securityContext"`
}

type probe struct {
	HTTPGet *struct {
		Path string          `json:"path"`
		Port json.RawMessage `json:"port"`
	} `json:"httpGet"`
}

// resolvePort turns an int-or-string port into a number using c's named ports.
func (c container) resolvePort(raw json.RawMessage) int {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	var name string
	if json.Unmarshal(raw, &name) == nil {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
	}
	return 0
}

// checkProbe checks that p is an HTTP GET of path on containerPort.
func (c container) checkProbe(kind string, p *probe, path string) []string {
	switch {
	case p == nil:
		return []string{fmt.Sprintf("container %s: no %s", c.Name, kind)}
	case p.HTTPGet == nil:
		return []string{fmt.Sprintf("container %s: %s is not an httpGet", c.Name, kind)}
	}
	var problems []string
	if p.HTTPGet.Path != path {
		problems = append(problems, fmt.Sprintf("container %s: %s path %q, want %q", c.Name, kind, p.HTTPGet.Path, path))
	}
	if port := c.resolvePort(p.HTTPGet.Port); port != containerPort {
		problems = append(problems, fmt.Sprintf("container %s: %s port %s is %d, want %d", c.Name, kind, p.HTTPGet.Port, port, containerPort))
	}
	return problems
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

func subsetOf(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkKubernetes checks the manifests under deploy/kubernetes as a set.
// files are the YAML files found there, to compare with kustomization.yaml.
func checkKubernetes(objs []k8sObject, files []string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	known := knownEnv()
	byKind := map[string][]k8sObject{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	for _, kind := range []string{"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap", "Secret"} {
		if len(byKind[kind]) != 1 {
			add("want one %s, found %d", kind, len(byKind[kind]))
		}
	}
	if len(byKind["Deployment"]) != 1 {
		return problems
	}

	dep := byKind["Deployment"][0]
	var spec deploymentSpec
	if err := json.Unmarshal(dep.Spec, &spec); err != nil {
		add("%s: %v", dep.File, err)
		return problems
	}
	if dep.APIVersion != "apps/v1" {
		add("Deployment apiVersion %q, want apps/v1", dep.APIVersion)
	}
	if spec.Replicas == nil {
		add("Deployment replicas not set, want 3")
	} else if *spec.Replicas != 3 {
		add("Deployment replicas %d, want 3", *spec.Replicas)
	}
	podLabels := spec.Template.Metadata.Labels
	if !subsetOf(spec.Selector.MatchLabels, podLabels) {
		add("Deployment selector %v does not match its pod labels %v", spec.Selector.MatchLabels, podLabels)
	}
	pod := spec.Template.Spec
	if len(pod.Containers) == 0 {
		add("Deployment has no containers")
	}
	var catqms container
	for _, c := range pod.Containers {
		if !slices.ContainsFunc(c.Ports, func(p struct {
			Name          string `json:"name"`
			ContainerPort int    `json:"containerPort"`
		}) bool {
			return p.ContainerPort == containerPort
		}) {
			add("container %s: no containerPort %d (ports %v)", c.Name, containerPort, c.Ports)
		}
		problems = append(problems, c.checkProbe("readinessProbe", c.ReadinessProbe, "/readyz")...)
		problems = append(problems, c.checkProbe("livenessProbe", c.LivenessProbe, "/healthz")...)
		if c.StartupProbe != nil {
			problems = append(problems, c.checkProbe("startupProbe", c.StartupProbe, "/healthz")...)
		}
		if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
			add("container %s: want cpu and memory requests and a memory limit, have %+v", c.Name, c.Resources)
		}
		sc := c.SecurityContext
		if sc == nil {
			sc = &securityContext{}
		}
		if !isTrue(sc.RunAsNonRoot) && (pod.SecurityContext == nil || !isTrue(pod.SecurityContext.RunAsNonRoot)) {
			add("container %s: runAsNonRoot is not true", c.Name)
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			add("container %s: readOnlyRootFilesystem is not true", c.Name)
		}
		if !isFalse(sc.AllowPrivilegeEscalation) {
			add("container %s: allowPrivilegeEscalation is not false", c.Name)
		}
		for _, e := range c.Env {
			if strings.HasPrefix(e.Name, "CATQMS_") && !known[e.Name] {
				add("container %s: env %s is not the variable of any catqms flag", c.Name, e.Name)
			}
		}
		var fromConfigMap, fromSecret bool
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				fromConfigMap = true
				if !slices.ContainsFunc(byKind["ConfigMap"], func(o k8sObject) bool { return o.Metadata.Name == ef.ConfigMapRef.Name }) {
					add("container %s: envFrom ConfigMap %q is not among the manifests", c.Name, ef.ConfigMapRef.Name)
				}
			}
			if ef.SecretRef != nil {
				fromSecret = true
				if !slices.ContainsFunc(byKind["Secret"], func(o k8sObject) bool { return o.Metadata.Name == ef.SecretRef.Name }) {
					add("container %s: envFrom Secret %q is not among the manifests", c.Name, ef.SecretRef.Name)
				}
			}
		}
		if !fromConfigMap || !fromSecret {
			add("container %s: want env from a ConfigMap and a Secret", c.Name)
		}
		catqms = c
	}

	for _, kind := range []string{"ConfigMap", "Secret"} {
		for _, o := range byKind[kind] {
			for _, m := range []map[string]string{o.Data, o.StringData} {
				for k := range m {
					if !known[k] {
						add("%s %s: key %s is not the variable of any catqms flag", kind, o.Metadata.Name, k)
					}
				}
			}
		}
	}

	for _, svc := range byKind["Service"] {
		var s struct {
			Selector map[string]string `json:"selector"`
			Ports    []struct {
				TargetPort json.RawMessage `json:"targetPort"`
			} `json:"ports"`
		}
		if err := json.Unmarshal(svc.Spec, &s); err != nil {
			add("%s: %v", svc.File, err)
			continue
		}
		if !subsetOf(s.Selector, podLabels) {
			add("Service selector %v does not select the pods %v", s.Selector, podLabels)
		}
		if len(s.Ports) == 0 {
			add("Service has no ports")
		}
		for _, p := range s.Ports {
			if got := catqms.resolvePort(p.TargetPort); got != containerPort {
				add("Service targetPort %s is %d, want %d", p.TargetPort, got, containerPort)
			}
		}
	}

	for _, pdb := range byKind["PodDisruptionBudget"] {
		var s struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
		}
		_ = json.Unmarshal(pdb.Spec, &s)
		if pdb.APIVersion != "policy/v1" {
			add("PodDisruptionBudget apiVersion %q, want policy/v1", pdb.APIVersion)
		}
		if !subsetOf(s.Selector.MatchLabels, podLabels) {
			add("PodDisruptionBudget selector %v does not select the pods %v", s.Selector.MatchLabels, podLabels)
		}
	}

	for _, hpa := range byKind["HorizontalPodAutoscaler"] {
		var s struct {
			ScaleTargetRef struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"scaleTargetRef"`
			MinReplicas int `json:"minReplicas"`
			MaxReplicas int `json:"maxReplicas"`
		}
		_ = json.Unmarshal(hpa.Spec, &s)
		if hpa.APIVersion != "autoscaling/v2" {
			add("HorizontalPodAutoscaler apiVersion %q, want autoscaling/v2", hpa.APIVersion)
		}
		if s.ScaleTargetRef.Kind != "Deployment" || s.ScaleTargetRef.Name != dep.Metadata.Name {
			add("HorizontalPodAutoscaler targets %s/%s, want Deployment/%s", s.ScaleTargetRef.Kind, s.ScaleTargetRef.Name, dep.Metadata.Name)
		}
		if s.MinReplicas < 2 || s.MaxReplicas < s.MinReplicas {
			add("HorizontalPodAutoscaler replicas %d..%d: want at least 2, and max ≥ min", s.MinReplicas, s.MaxReplicas)
		}
	}

	for _, k := range byKind["Kustomization"] {
		var want []string
		for _, f := range files {
			if f != k.File {
				want = append(want, f)
			}
		}
		got := slices.Clone(k.Resources)
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			add("%s lists resources %q, but the directory holds %q", k.File, got, want)
		}
	}
	return problems
}

var yamlDocSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// parseKubernetes reads every YAML document under dir.
func parseKubernetes(t *testing.T, dir string) (objs []k8sObject, files []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || (!strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml")) {
			continue
		}
		files = append(files, name)
		for i, doc := range yamlDocSeparator.Split(readFile(t, filepath.Join(dir, name)), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var o k8sObject
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatalf("%s document %d: %v", name, i, err)
			}
			if o.Kind == "" || o.APIVersion == "" {
				t.Errorf("%s document %d: no kind or apiVersion", name, i)
			}
			o.File = name
			objs = append(objs, o)
		}
	}
	return objs, files
}

func TestKubernetes(t *testing.T) {
	objs, files := parseKubernetes(t, k8sDir)
	report(t, k8sDir, checkKubernetes(objs, files))
}

// ---------------------------------------------------------------- Dockerfile

type dockerInstr struct{ op, args string }

type dockerStage struct {
	from  string // image, ARG defaults substituted
	instr []dockerInstr
}

var dockerArgRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

// parseDockerfile splits a Dockerfile into stages of instructions, joining
// continued lines and substituting the global ARG defaults in FROM.
func parseDockerfile(text string) []dockerStage {
	text = strings.ReplaceAll(text, "\\\n", " ")
	globalArgs := map[string]string{}
	var stages []dockerStage
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, args, _ := strings.Cut(line, " ")
		op = strings.ToUpper(op)
		args = strings.Join(strings.Fields(args), " ")
		switch {
		case op == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(args, "=")
			globalArgs[k] = v
		case op == "FROM":
			fields := strings.Fields(args)
			var image string
			for _, f := range fields {
				if !strings.HasPrefix(f, "--") {
					image = f
					break
				}
			}
			image = dockerArgRef.ReplaceAllStringFunc(image, func(ref string) string {
				return globalArgs[dockerArgRef.FindStringSubmatch(ref)[1]]
			})
			stages = append(stages, dockerStage{from: image})
		case len(stages) > 0:
			s := &stages[len(stages)-1]
			s.instr = append(s.instr, dockerInstr{op, args})
		}
	}
	return stages
}

func (s dockerStage) find(op string) []string {
	var out []string
	for _, in := range s.instr {
		if in.op == op {
			out = append(out, in.args)
		}
	}
	return out
}

func checkDockerfile(text string) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	stages := parseDockerfile(text)
	if len(stages) < 2 {
		return []string{fmt.Sprintf("want a multi-stage build, found %d stage(s)", len(stages))}
	}
	build, final := stages[0], stages[len(stages)-1]

	if build.from != "golang:1.26-bookworm" {
		add("build stage FROM %q, want golang:1.26-bookworm", build.from)
	}
	runs := strings.Join(append(build.find("RUN"), build.find("ENV")...), "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "./cmd/catqms"} {
		if !strings.Contains(runs, want) {
			add("build stage does not build with %s", want)
		}
	}
	modFirst, sourceAt, downloadAt := -1, -1, -1
	for i, in := range build.instr {
		switch {
		case in.op == "COPY" && strings.HasPrefix(in.args, "go.mod go.sum ") && modFirst < 0:
			modFirst = i
		case in.op == "COPY" && in.args == ". ." && sourceAt < 0:
			sourceAt = i
		case in.op == "RUN" && strings.Contains(in.args, "go mod download") && downloadAt < 0:
			downloadAt = i
		}
	}
	if !(modFirst >= 0 && modFirst < downloadAt && downloadAt < sourceAt) {
		add("build stage should COPY go.mod go.sum, RUN go mod download, then COPY . . (at %d, %d, %d)", modFirst, downloadAt, sourceAt)
	}

	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") || !strings.HasSuffix(final.from, ":nonroot") {
		add("final stage FROM %q, want gcr.io/distroless/static-…:nonroot", final.from)
	}
	if users := final.find("USER"); len(users) == 0 || !strings.HasPrefix(users[len(users)-1], "nonroot") {
		add("final stage USER %q, want nonroot", users)
	}
	hc := final.find("HEALTHCHECK")
	if len(hc) != 1 || !strings.Contains(hc[0], "CMD") || !strings.Contains(hc[0], "--healthcheck") {
		add("final stage HEALTHCHECK %q, want one that runs the binary with --healthcheck", hc)
	}
	if !slices.Contains(final.find("EXPOSE"), strconv.Itoa(containerPort)) {
		add("final stage does not EXPOSE %d", containerPort)
	}
	if len(final.find("ENTRYPOINT")) != 1 {
		add("final stage has no ENTRYPOINT")
	}
	// The embedded store's line survives a new container only on a volume,
	// which nonroot must be able to write.
	if !slices.Contains(final.find("ENV"), "CATQMS_DATA_DIR=/data") || !slices.Contains(final.find("VOLUME"), `["/data"]`) {
		add("final stage should keep the embedded store on a volume: ENV CATQMS_DATA_DIR=/data and VOLUME [\"/data\"] (have %q, %q)", final.find("ENV"), final.find("VOLUME"))
	}
	owned := false
	for _, c := range final.find("COPY") {
		owned = owned || (strings.Contains(c, "--chown=65532:65532") && strings.HasSuffix(c, " /data"))
	}
	if !owned {
		add("final stage should COPY a /data folder owned by nonroot (65532) for the volume")
	}
	return problems
}

func TestDockerfile(t *testing.T) {
	report(t, dockerfile, checkDockerfile(readFile(t, dockerfile)))
}

// ---------------------------------------------------------------- nginx

var nginxComment = regexp.MustCompile(`#[^\n]*`)

// checkNginx checks that a proxy configuration forwards WebSockets and the
// client address.
func checkNginx(text string) []string {
	conf := strings.Join(strings.Fields(nginxComment.ReplaceAllString(text, "")), " ")
	var problems []string
	for _, want := range []string{
		"proxy_http_version 1.1;",
		"proxy_set_header Upgrade $http_upgrade;",
		"proxy_set_header Connection $connection_upgrade;",
		"map $http_upgrade $connection_upgrade {",
		"proxy_set_header X-Forwarded-For ",
		// $host drops the port, and the WebSocket same-origin check then
		// refuses every browser whose Origin has one (seen in a smoke run).
		"proxy_set_header Host $http_host;",
		"proxy_pass http://catqms;",
		"upstream catqms {",
	} {
		if !strings.Contains(conf, want) {
			problems = append(problems, fmt.Sprintf("lacks %q", want))
		}
	}
	return problems
}

func TestNginx(t *testing.T) {
	for _, path := range []string{nginxConf, nginxTmpl} {
		report(t, path, checkNginx(readFile(t, path)))
	}
}

// ---------------------------------------------------------------- systemd

func checkSystemd(text string) []string {
	settings := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = v
		}
	}
	var problems []string
	for key, want := range map[string]string{
		"DynamicUser":     "yes",
		"NoNewPrivileges": "yes",
		"ProtectSystem":   "strict",
		"ProtectHome":     "yes",
		"PrivateTmp":      "yes",
	} {
		if settings[key] != want {
			problems = append(problems, fmt.Sprintf("%s=%q, want %q", key, settings[key], want))
		}
	}
	for _, key := range []string{"EnvironmentFile", "ExecStart"} {
		if settings[key] == "" {
			problems = append(problems, "no "+key)
		}
	}
	return problems
}

func TestSystemd(t *testing.T) {
	report(t, systemdUnit, checkSystemd(readFile(t, systemdUnit)))
}

// ---------------------------------------------------------------- the checks can fail

// TestChecksCatchMistakes breaks the real files in typical ways and expects
// each check to notice: a check that passes everything protects nothing.
func TestChecksCatchMistakes(t *testing.T) {
	compose, nginx := readFile(t, composePath), readFile(t, nginxConf)
	docker, unit := readFile(t, dockerfile), readFile(t, systemdUnit)
	deployment := readFile(t, filepath.Join(k8sDir, "deployment.yaml"))

	checkComposeText := func(t *testing.T, text string) []string { return checkCompose(parseCompose(t, text), nginx) }
	checkK8sDeployment := func(t *testing.T, text string) []string {
		objs, files := parseKubernetes(t, k8sDir)
		for i, o := range objs {
			if o.Kind == "Deployment" {
				var repl k8sObject
				if err := yaml.Unmarshal([]byte(text), &repl); err != nil {
					t.Fatal(err)
				}
				repl.File = o.File
				objs[i] = repl
			}
		}
		return checkKubernetes(objs, files)
	}

	for _, tc := range []struct {
		name     string
		original string
		old, new string
		check    func(t *testing.T, text string) []string
	}{
		{"unknown env name", compose, "CATQMS_LOG_LEVEL", "CATQMS_LOGLEVEL",
			func(t *testing.T, s string) []string { return checkEnvNames(s) }},
		{"compose redis without AOF", compose, `"--appendonly", "yes"`, `"--appendonly", "no"`, checkComposeText},
		{"compose trusts another network", compose, "CATQMS_TRUSTED_PROXIES: 172.28.0.0/24", "CATQMS_TRUSTED_PROXIES: 0.0.0.0/0", checkComposeText},
		{"compose replica publishes a port", compose, "  expose:\n", "  ports: [\"8081:8080\"]\n  expose:\n", checkComposeText},
		{"compose proxy on another port", compose, `"8080:80"`, `"80:80"`, checkComposeText},
		{"compose two replicas", compose, "  catqms-3: *catqms\n", "", checkComposeText},
		{"compose wrong redis URL", compose, "redis://redis:6379/0", "redis://localhost:6379/0", checkComposeText},
		{"nginx without Upgrade", nginx, "proxy_set_header Upgrade $http_upgrade;", "", func(t *testing.T, s string) []string { return checkNginx(s) }},
		{"nginx Host without port", nginx, "proxy_set_header Host $http_host;", "proxy_set_header Host $host;", func(t *testing.T, s string) []string { return checkNginx(s) }},
		{"nginx without XFF", nginx, "proxy_set_header X-Forwarded-For", "# proxy_set_header X-Forwarded-For", func(t *testing.T, s string) []string { return checkNginx(s) }},
		{"nginx upstream misses a replica", nginx, "server catqms-3:8080", "server catqms-3:9090",
			func(t *testing.T, s string) []string { return checkCompose(parseCompose(t, compose), s) }},
		{"dockerfile without healthcheck", docker, `CMD ["/catqms", "--healthcheck"]`, `CMD ["/catqms", "--version"]`, func(t *testing.T, s string) []string { return checkDockerfile(s) }},
		{"dockerfile runs as root", docker, "USER nonroot:nonroot", "USER root", func(t *testing.T, s string) []string { return checkDockerfile(s) }},
		{"dockerfile on a full base", docker, "FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:12", func(t *testing.T, s string) []string { return checkDockerfile(s) }},
		{"dockerfile with cgo", docker, "RUN CGO_ENABLED=0", "RUN CGO_ENABLED=1", func(t *testing.T, s string) []string { return checkDockerfile(s) }},
		{"dockerfile source before modules", docker, "COPY go.mod go.sum ./", "COPY . .\nCOPY go.mod go.sum ./", func(t *testing.T, s string) []string { return checkDockerfile(s) }},
		{"k8s readiness on healthz", deployment, "path: /readyz", "path: /healthz", checkK8sDeployment},
		{"k8s probe on another port", deployment, "port: http\n            periodSeconds: 10", "port: 9090\n            periodSeconds: 10", checkK8sDeployment},
		{"k8s container port", deployment, "containerPort: 8080", "containerPort: 80", checkK8sDeployment},
		{"k8s root filesystem writable", deployment, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", checkK8sDeployment},
		{"k8s two replicas", deployment, "replicas: 3", "replicas: 2", checkK8sDeployment},
		{"k8s env from a missing secret", deployment, "secretRef:\n                name: catqms", "secretRef:\n                name: other", checkK8sDeployment},
		{"systemd without DynamicUser", unit, "DynamicUser=yes", "DynamicUser=no", func(t *testing.T, s string) []string { return checkSystemd(s) }},
		{"systemd without ProtectSystem", unit, "ProtectSystem=strict", "ProtectSystem=full", func(t *testing.T, s string) []string { return checkSystemd(s) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.original, tc.old) {
				t.Fatalf("the file no longer contains %q: update this case", tc.old)
			}
			if got := tc.check(t, tc.original); len(got) != 0 {
				t.Fatalf("the unbroken file already has problems: %q", got)
			}
			broken := strings.Replace(tc.original, tc.old, tc.new, 1)
			if got := tc.check(t, broken); len(got) == 0 {
				t.Errorf("replacing %q with %q went unnoticed", tc.old, tc.new)
			} else {
				t.Logf("noticed: %q", got)
			}
		})
	}
}
