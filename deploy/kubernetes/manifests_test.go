// Package kubernetes holds Tenure's Kubernetes manifests; its test checks them
// offline, against the real Kubernetes API types and against the tenure binary's
// own settings, as .ci/compose-check does for docker-compose.yml.
package kubernetes

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/tenure-io/tenure/policy"
	"github.com/tenure-io/tenure/worker"
)

// root is the repository, from this package's directory.
const root = "../.."

// kustomization is the part of kustomization.yaml that the manifests use.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []image  `json:"images"`
}

// image is one of kustomization.yaml's image replacements.
type image struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag"`
}

// manifests are every object the kustomization lists, decoded strictly.
type manifests struct {
	kustomization
	namespaces  []*corev1.Namespace
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	services    []*corev1.Service
	deployments map[string]*appsv1.Deployment
	jobs        []*batchv1.Job
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
}

// load reads kustomization.yaml and decodes each document of each resource into
// its Kubernetes type, refusing unknown fields, duplicate keys and kinds.
func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		deployments: map[string]*appsv1.Deployment{}}
	raw, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, &m.kustomization); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if m.Kind != "Kustomization" || m.Namespace == "" {
		t.Fatalf("kustomization.yaml: kind %q namespace %q", m.Kind, m.Namespace)
	}
	// Every manifest here is listed, so that none is left out of kubectl apply -k.
	files, _ := filepath.Glob("*.yaml")
	for _, f := range files {
		if f != "kustomization.yaml" && !slices.Contains(m.Resources, f) {
			t.Errorf("%s is not in kustomization.yaml's resources", f)
		}
	}
	for _, file := range m.Resources {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("kustomization.yaml lists %s: %v", file, err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			where := fmt.Sprintf("%s, document %d", file, i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			obj, meta := m.object(tm)
			if obj == nil {
				t.Fatalf("%s: %s %s is not a kind these manifests use", where, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s (%s): %v", where, tm.Kind, err)
			}
			if meta.Name == "" {
				t.Errorf("%s: %s has no name", where, tm.Kind)
			}
			if meta.Namespace != "" && meta.Namespace != m.Namespace {
				t.Errorf("%s: %s %s is in namespace %s, not the kustomization's %s", where, tm.Kind, meta.Name, meta.Namespace, m.Namespace)
			}
			m.keep(t, where, obj)
		}
	}
	return m
}

// object returns a new object of the type a document declares, and its metadata.
func (m *manifests) object(tm metav1.TypeMeta) (any, *metav1.ObjectMeta) {
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		o := &corev1.Namespace{}
		return o, &o.ObjectMeta
	case "v1 ConfigMap":
		o := &corev1.ConfigMap{}
		return o, &o.ObjectMeta
	case "v1 Secret":
		o := &corev1.Secret{}
		return o, &o.ObjectMeta
	case "v1 Service":
		o := &corev1.Service{}
		return o, &o.ObjectMeta
	case "apps/v1 Deployment":
		o := &appsv1.Deployment{}
		return o, &o.ObjectMeta
	case "batch/v1 Job":
		o := &batchv1.Job{}
		return o, &o.ObjectMeta
	case "autoscaling/v2 HorizontalPodAutoscaler":
		o := &autoscalingv2.HorizontalPodAutoscaler{}
		return o, &o.ObjectMeta
	case "policy/v1 PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		return o, &o.ObjectMeta
	}
	return nil, nil
}

func (m *manifests) keep(t *testing.T, where string, obj any) {
	t.Helper()
	unique := func(kind, name string, seen bool) {
		if seen {
			t.Errorf("%s: a second %s named %s", where, kind, name)
		}
	}
	switch o := obj.(type) {
	case *corev1.Namespace:
		m.namespaces = append(m.namespaces, o)
	case *corev1.ConfigMap:
		unique("ConfigMap", o.Name, m.configMaps[o.Name] != nil)
		m.configMaps[o.Name] = o
	case *corev1.Secret:
		unique("Secret", o.Name, m.secrets[o.Name] != nil)
		m.secrets[o.Name] = o
	case *corev1.Service:
		m.services = append(m.services, o)
	case *appsv1.Deployment:
		unique("Deployment", o.Name, m.deployments[o.Name] != nil)
		m.deployments[o.Name] = o
	case *batchv1.Job:
		m.jobs = append(m.jobs, o)
	case *autoscalingv2.HorizontalPodAutoscaler:
		m.hpas = append(m.hpas, o)
	case *policyv1.PodDisruptionBudget:
		m.pdbs = append(m.pdbs, o)
	}
}

func stripComments(doc string) string {
	return regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(doc, "")
}

// byCommand returns the Deployment whose container runs `tenure <command>`.
func (m *manifests) byCommand(t *testing.T, command string) *appsv1.Deployment {
	t.Helper()
	for _, d := range m.deployments {
		if c := d.Spec.Template.Spec.Containers; len(c) == 1 && len(c[0].Args) > 0 && c[0].Args[0] == command {
			return d
		}
	}
	t.Fatalf("no Deployment runs tenure %s", command)
	return nil
}

// pods are the pod templates of the Deployments and the Job, by name.
func (m *manifests) pods() map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for name, d := range m.deployments {
		out["Deployment "+name] = &d.Spec.Template
	}
	for _, j := range m.jobs {
		out["Job "+j.Name] = &j.Spec.Template
	}
	return out
}

// TestManifestsDecodeIntoKubernetesTypes: every manifest is a known kind and
// decodes strictly; there is one Namespace, the kustomization's, the api and the
// worker each have a Deployment, and a Job runs `tenure migrate`.
func TestManifestsDecodeIntoKubernetesTypes(t *testing.T) {
	m := load(t)
	if len(m.namespaces) != 1 || m.namespaces[0].Name != m.Namespace {
		t.Errorf("want one Namespace, %s", m.Namespace)
	}
	m.byCommand(t, "api")
	m.byCommand(t, "worker")
	migrates := 0
	for _, j := range m.jobs {
		if c := j.Spec.Template.Spec.Containers; len(c) == 1 && slices.Equal(c[0].Args, []string{"migrate"}) {
			migrates++
		}
	}
	if migrates != 1 {
		t.Errorf("%d Jobs run tenure migrate, want 1", migrates)
	}
	for name, pod := range m.pods() {
		for _, c := range pod.Spec.Containers {
			if !slices.ContainsFunc(m.Images, func(i image) bool { return i.Name == c.Image }) {
				t.Errorf("%s: image %q is not one kustomization.yaml's images sets", name, c.Image)
			}
		}
	}
}

// readVariables are the names the tenure binary reads from its environment, as
// its source writes them: every TENURE_* string and DATABASE_URL in the
// module's Go code, tests aside.
func readVariables(t *testing.T) map[string]bool {
	t.Helper()
	name := regexp.MustCompile(`^(TENURE_[A-Z0-9_]+|DATABASE_URL)$`)
	out := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if b := d.Name(); b == "testdata" || b == "node_modules" || strings.HasPrefix(b, ".") && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil && name.MatchString(s) {
					out[s] = true
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !out["TENURE_ADMIN_TOKEN"] || !out["DATABASE_URL"] || !out["TENURE_SHUTDOWN_TIMEOUT"] {
		t.Fatalf("found only %d variable names in the source: the walk is broken", len(out))
	}
	return out
}

// secretName is a variable that holds a credential: it must come from a Secret.
var secretName = regexp.MustCompile(`TOKEN|SECRET|KEY|PASSWORD|^DATABASE_URL$`)

// TestManifestsSetOnlyWhatTenureReads: every variable a container sets is one
// the binary reads, or one the policy names for an app's credential; each
// credential comes from a Secret that defines the key, each setting from a
// ConfigMap that does; the policy mounted into the api and the worker parses
// with the variables each sets, so every credential it names is given to both;
// and every key of every Secret reaches some container.
func TestManifestsSetOnlyWhatTenureReads(t *testing.T) {
	m := load(t)
	read := readVariables(t)
	policyVars := m.checkPolicy(t)
	usedSecretKeys := map[string]bool{}
	for name, pod := range m.pods() {
		for _, c := range pod.Spec.Containers {
			if len(c.EnvFrom) > 0 {
				t.Errorf("%s: envFrom hides which variables are set; list each under env", name)
			}
			seen := map[string]bool{}
			for _, e := range c.Env {
				where := name + ": " + e.Name
				if seen[e.Name] {
					t.Errorf("%s is set twice", where)
				}
				seen[e.Name] = true
				if !read[e.Name] && !policyVars[e.Name] {
					t.Errorf("%s: tenure never reads it, and the policy names no such credential (a typo?)", where)
				}
				switch {
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					ref := e.ValueFrom.SecretKeyRef
					s := m.secrets[ref.Name]
					if s == nil {
						t.Errorf("%s: no Secret named %s", where, ref.Name)
						continue
					}
					if _, ok := s.StringData[ref.Key]; !ok {
						if _, ok := s.Data[ref.Key]; !ok {
							t.Errorf("%s: Secret %s has no key %s", where, ref.Name, ref.Key)
						}
					}
					if ref.Optional != nil && *ref.Optional {
						t.Errorf("%s: optional, so a missing key would go unnoticed", where)
					}
					usedSecretKeys[ref.Name+"/"+ref.Key] = true
				case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
					ref := e.ValueFrom.ConfigMapKeyRef
					if secretName.MatchString(e.Name) {
						t.Errorf("%s is a credential: set it from a Secret, not ConfigMap %s", where, ref.Name)
					}
					cm := m.configMaps[ref.Name]
					if cm == nil {
						t.Errorf("%s: no ConfigMap named %s", where, ref.Name)
					} else if _, ok := cm.Data[ref.Key]; !ok {
						t.Errorf("%s: ConfigMap %s has no key %s", where, ref.Name, ref.Key)
					}
				case e.ValueFrom != nil:
					t.Errorf("%s: only Secret and ConfigMap keys are expected", where)
				default:
					if secretName.MatchString(e.Name) {
						t.Errorf("%s is a credential written into the manifest: set it from a Secret", where)
					}
				}
				if e.ValueFrom != nil {
					key := ""
					if r := e.ValueFrom.SecretKeyRef; r != nil {
						key = r.Key
					} else if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
						key = r.Key
					}
					if key != e.Name {
						t.Errorf("%s comes from key %s: name the key as the variable", where, key)
					}
				}
			}
		}
	}
	for name, s := range m.secrets {
		for key := range s.StringData {
			if !usedSecretKeys[name+"/"+key] {
				t.Errorf("Secret %s: key %s reaches no container", name, key)
			}
		}
		for key := range s.Data {
			if !usedSecretKeys[name+"/"+key] {
				t.Errorf("Secret %s: key %s reaches no container", name, key)
			}
		}
	}
	// The credentials of docs/deployment.md each have their place.
	for _, want := range []string{"DATABASE_URL", "TENURE_ADMIN_TOKEN", "TENURE_CODEC_KEY", "TENURE_SECRET_KEY",
		"TENURE_AUDIT_SIGNING_KEY", "TENURE_HR_WEBHOOK_SECRETS", "TENURE_SLACK_BOT_TOKEN", "TENURE_SLACK_SIGNING_SECRET",
		"TENURE_OIDC_CLIENT_SECRET", "TENURE_SESSION_KEY", "TENURE_WORKDAY_PASSWORD"} {
		found := false
		for key := range usedSecretKeys {
			found = found || strings.HasSuffix(key, "/"+want)
		}
		if !found {
			t.Errorf("no container gets %s from a Secret", want)
		}
	}
}

// checkPolicy parses the policy that TENURE_POLICY names in the api and the
// worker, from the ConfigMap mounted there, as each process would with the
// variables its container sets. It returns the variables the policy reads.
func (m *manifests) checkPolicy(t *testing.T) map[string]bool {
	t.Helper()
	asked := map[string]bool{}
	for _, command := range []string{"api", "worker"} {
		d := m.byCommand(t, command)
		pod := &d.Spec.Template.Spec
		c := pod.Containers[0]
		set := map[string]bool{}
		file := ""
		for _, e := range c.Env {
			set[e.Name] = true
			if e.Name == "TENURE_POLICY" {
				file = m.value(t, e)
			}
		}
		if file == "" {
			t.Errorf("%s: TENURE_POLICY is not set: the worker would run the built-in dev policy and its sandbox apps", d.Name)
			continue
		}
		data := m.mountedFile(t, pod, c, file)
		getenv := func(name string) string {
			asked[name] = true
			if set[name] {
				return "set in the Deployment"
			}
			return ""
		}
		if _, err := policy.Parse(path.Base(file), []byte(data), worker.Specs, getenv); err != nil {
			t.Errorf("%s: the policy at %s does not load with the variables the Deployment sets: %v", d.Name, file, err)
		}
	}
	return asked
}

// value is what an env entry sets: its literal value or its ConfigMap key's.
func (m *manifests) value(t *testing.T, e corev1.EnvVar) string {
	t.Helper()
	if e.ValueFrom == nil {
		return e.Value
	}
	if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil && m.configMaps[ref.Name] != nil {
		return m.configMaps[ref.Name].Data[ref.Key]
	}
	t.Fatalf("%s: want a value or a ConfigMap key", e.Name)
	return ""
}

// mountedFile returns the content of file as the container sees it, from a
// ConfigMap volume mounted over its directory.
func (m *manifests) mountedFile(t *testing.T, pod *corev1.PodSpec, c corev1.Container, file string) string {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			cm := m.configMaps[v.ConfigMap.Name]
			if cm == nil {
				t.Fatalf("volume %s: no ConfigMap named %s", v.Name, v.ConfigMap.Name)
			}
			data, ok := cm.Data[rel]
			if !ok {
				t.Fatalf("ConfigMap %s has no %s, which the container reads at %s", cm.Name, rel, file)
			}
			return data
		}
	}
	t.Fatalf("%s: nothing is mounted at %s", c.Name, file)
	return ""
}

// shutdownTimeout is the bound TENURE_SHUTDOWN_TIMEOUT gives the container.
func (m *manifests) shutdownTimeout(t *testing.T, c corev1.Container, name string) time.Duration {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			d, err := time.ParseDuration(m.value(t, e))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return d
		}
	}
	return -1
}

// TestManifestsStopGracefully: each Deployment's grace period outlasts the
// shutdown bound it gives tenure, so the process exits on its own before the
// kubelet kills it; the api's delay leaves time for requests in flight; the
// api and the worker roll out without losing capacity.
func TestManifestsStopGracefully(t *testing.T) {
	m := load(t)
	for _, command := range []string{"api", "worker"} {
		d := m.byCommand(t, command)
		c := d.Spec.Template.Spec.Containers[0]
		timeout := m.shutdownTimeout(t, c, "TENURE_SHUTDOWN_TIMEOUT")
		if timeout <= 0 {
			t.Errorf("%s: set TENURE_SHUTDOWN_TIMEOUT, so that the grace period can be checked against it", d.Name)
			continue
		}
		grace := time.Duration(0)
		if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = time.Duration(*g) * time.Second
		}
		if grace <= timeout {
			t.Errorf("%s: terminationGracePeriodSeconds (%s) must exceed TENURE_SHUTDOWN_TIMEOUT %s", d.Name, grace, timeout)
		}
		if command == "api" {
			delay := m.shutdownTimeout(t, c, "TENURE_SHUTDOWN_DELAY")
			if delay <= 0 || delay >= timeout-timeout/5 {
				t.Errorf("%s: TENURE_SHUTDOWN_DELAY %s must be above 0 and under four fifths of the timeout %s", d.Name, delay, timeout)
			}
			if p := c.ReadinessProbe; p != nil && time.Duration(p.PeriodSeconds*p.FailureThreshold)*time.Second >= delay {
				t.Errorf("%s: the readiness probe needs %ds to see a 503, longer than the %s delay", d.Name, p.PeriodSeconds*p.FailureThreshold, delay)
			}
		}
		ru := d.Spec.Strategy.RollingUpdate
		if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
			t.Errorf("%s: roll out with maxUnavailable 0", d.Name)
		}
	}
}

// TestManifestsProbeTheRightPaths: the api's probes ask paths the API serves
// without a token (openapi.json describes them with security: []), on its
// container port; liveness and startup never ask /healthz, which fails when
// Temporal does, and readiness asks /readyz, which turns 503 on SIGTERM. The
// Service and the PodDisruptionBudgets select the pods they mean.
func TestManifestsProbeTheRightPaths(t *testing.T) {
	m := load(t)
	unauthenticated := openAPIProbes(t)
	api := m.byCommand(t, "api")
	c := api.Spec.Template.Spec.Containers[0]
	for kind, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("api: no HTTP %s probe", kind)
			continue
		}
		if !unauthenticated[p.HTTPGet.Path] {
			t.Errorf("api %s probe: %s is not a path the API serves without a token", kind, p.HTTPGet.Path)
		}
		if !containerPort(c, p.HTTPGet.Port) {
			t.Errorf("api %s probe: port %s is not the container's", kind, p.HTTPGet.Port.String())
		}
		if kind != "readiness" && p.HTTPGet.Path == "/healthz" {
			t.Errorf("api %s probe on /healthz: it fails when Temporal or the database does, and the kubelet would restart healthy pods", kind)
		}
	}
	if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "/readyz" {
		t.Errorf("api readiness probe on %s: /readyz is the one that turns 503 when the api stops", p.HTTPGet.Path)
	}
	if len(m.services) != 1 {
		t.Fatalf("%d Services, want 1 for the api", len(m.services))
	}
	svc := m.services[0]
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(api.Spec.Template.Labels)) || m.matching(labels.SelectorFromSet(svc.Spec.Selector)) != 1 {
		t.Errorf("Service %s does not select the api's pods alone", svc.Name)
	}
	for _, p := range svc.Spec.Ports {
		if !containerPort(c, p.TargetPort) {
			t.Errorf("Service %s: targetPort %s is not the api's container port", svc.Name, p.TargetPort.String())
		}
	}
	for _, d := range m.deployments {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) || m.matching(sel) != 1 {
			t.Errorf("Deployment %s: its selector must match its own pods and no other Deployment's", d.Name)
		}
	}
	covered := map[string]bool{}
	for _, pdb := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range m.deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				covered[d.Name] = true
				if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || pdb.Spec.MinAvailable.IntValue() >= int(*d.Spec.Replicas) {
					t.Errorf("PodDisruptionBudget %s: minAvailable must be at least 1 and under %s's %d replicas, or a drain blocks", pdb.Name, d.Name, *d.Spec.Replicas)
				}
			}
		}
	}
	for name := range m.deployments {
		if !covered[name] {
			t.Errorf("Deployment %s has no PodDisruptionBudget", name)
		}
	}
}

// matching counts the Deployments whose pods sel selects.
func (m *manifests) matching(sel labels.Selector) int {
	n := 0
	for _, d := range m.deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			n++
		}
	}
	return n
}

func containerPort(c corev1.Container, port intstr.IntOrString) bool {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && port.StrVal == p.Name) || (port.Type == intstr.Int && port.IntVal == p.ContainerPort) {
			return true
		}
	}
	return false
}

// openAPIProbes are the paths outside /api/ that openapi.json describes as
// needing no token.
func openAPIProbes(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "api", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Security *[]any `json:"security"`
		} `json:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for p, ops := range doc.Paths {
		if get, ok := ops["get"]; ok && !strings.HasPrefix(p, "/api/") && get.Security != nil && len(*get.Security) == 0 {
			out[p] = true
		}
	}
	if !out["/healthz"] {
		t.Fatal("openapi.json does not describe GET /healthz: the walk is broken")
	}
	return out
}

// TestManifestsScaleWorkersSafely: the autoscaler scales the worker Deployment
// on CPU, from two replicas up, and the worker requests the CPU it measures.
func TestManifestsScaleWorkersSafely(t *testing.T) {
	m := load(t)
	w := m.byCommand(t, "worker")
	if len(m.hpas) != 1 {
		t.Fatalf("%d HorizontalPodAutoscalers, want 1 for the workers", len(m.hpas))
	}
	h := m.hpas[0]
	if ref := h.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || ref.Name != w.Name {
		t.Errorf("HorizontalPodAutoscaler %s targets %s %s %s, want apps/v1 Deployment %s", h.Name, ref.APIVersion, ref.Kind, ref.Name, w.Name)
	}
	if min := h.Spec.MinReplicas; min == nil || *min < 2 || h.Spec.MaxReplicas <= *min {
		t.Errorf("HorizontalPodAutoscaler %s: minReplicas must be at least 2 and maxReplicas above it", h.Name)
	}
	cpu := false
	for _, metric := range h.Spec.Metrics {
		cpu = cpu || metric.Type == autoscalingv2.ResourceMetricSourceType && metric.Resource != nil && metric.Resource.Name == corev1.ResourceCPU
	}
	if !cpu {
		t.Errorf("HorizontalPodAutoscaler %s does not scale on CPU", h.Name)
	}
	if _, ok := w.Spec.Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; !ok {
		t.Errorf("%s requests no CPU: the autoscaler's utilisation is a share of the request", w.Name)
	}
}

// TestManifestsLockDownPods: every pod runs as non-root with a read-only root
// file system, no privilege escalation, no capabilities, the runtime's seccomp
// profile and no service account token, within requests and limits.
func TestManifestsLockDownPods(t *testing.T) {
	m := load(t)
	for name, pod := range m.pods() {
		s := pod.Spec
		if s.SecurityContext == nil || s.SecurityContext.RunAsNonRoot == nil || !*s.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: runAsNonRoot is not set", name)
		}
		if s.SecurityContext == nil || s.SecurityContext.SeccompProfile == nil || s.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: no RuntimeDefault seccomp profile", name)
		}
		if s.AutomountServiceAccountToken == nil || *s.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token it never uses", name)
		}
		for _, c := range s.Containers {
			sc := c.SecurityContext
			switch {
			case sc == nil:
				t.Errorf("%s/%s: no securityContext", name, c.Name)
				continue
			case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
				t.Errorf("%s/%s: the root file system is writable", name, c.Name)
			case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
				t.Errorf("%s/%s: privilege escalation is allowed", name, c.Name)
			case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
				t.Errorf("%s/%s: capabilities are not all dropped", name, c.Name)
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				req, okReq := c.Resources.Requests[r]
				lim, okLim := c.Resources.Limits[r]
				if !okReq || !okLim || req.Cmp(lim) > 0 {
					t.Errorf("%s/%s: %s wants a request and a limit no lower", name, c.Name, r)
				}
			}
		}
	}
}
