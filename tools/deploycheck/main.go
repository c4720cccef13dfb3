// Command deploycheck validates Portero's deployment artefacts without a
// cluster or Docker: every Kubernetes manifest is decoded strictly into the
// API's own Go types (an unknown or misspelt field, or a value of the wrong
// type, is an error), the production compose file is loaded and checked
// against the Compose specification's schema by compose-go, and both are
// held to the operational rules of docs/operations.md (probes, limits,
// non-root, a disruption budget, no --dev, more than one replica).
//
//	go run ./deploycheck ../deploy        (from the tools module)
package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

func main() {
	dir := "deploy"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	errs := checkKubernetes(filepath.Join(dir, "kubernetes"))
	errs = append(errs, checkCompose(filepath.Join(dir, "compose", "docker-compose.yml"))...)
	if len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintln(os.Stderr, "deploycheck:", err)
		}
		os.Exit(1)
	}
	fmt.Println("deploycheck: kubernetes manifests and compose file are valid")
}

// manifests holds the decoded objects by kind.
type manifests struct {
	deployments []appsv1.Deployment
	jobs        []batchv1.Job
	services    []corev1.Service
	configMaps  []corev1.ConfigMap
	pdbs        []policyv1.PodDisruptionBudget
	policies    []networkingv1.NetworkPolicy
}

func checkKubernetes(dir string) []error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return []error{fmt.Errorf("%s: no manifests (%v)", dir, err)}
	}
	var m manifests
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f) // #nosec G304 G703 -- the repository's own manifests, named on the command line
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for i, doc := range bytes.Split(data, []byte("\n---")) {
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			if err := m.decode(doc); err != nil {
				errs = append(errs, fmt.Errorf("%s (document %d): %w", f, i+1, err))
			}
		}
	}
	return append(errs, m.rules()...)
}

// decode reads one document strictly into the type its kind names.
func (m *manifests) decode(doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	strict := func(into any) error { return yaml.UnmarshalStrict(doc, into) }
	switch head.APIVersion + " " + head.Kind {
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		if err := strict(&o); err != nil {
			return err
		}
		m.deployments = append(m.deployments, o)
	case "batch/v1 Job":
		var o batchv1.Job
		if err := strict(&o); err != nil {
			return err
		}
		m.jobs = append(m.jobs, o)
	case "v1 Service":
		var o corev1.Service
		if err := strict(&o); err != nil {
			return err
		}
		m.services = append(m.services, o)
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		if err := strict(&o); err != nil {
			return err
		}
		m.configMaps = append(m.configMaps, o)
	case "policy/v1 PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		if err := strict(&o); err != nil {
			return err
		}
		m.pdbs = append(m.pdbs, o)
	case "networking.k8s.io/v1 NetworkPolicy":
		var o networkingv1.NetworkPolicy
		if err := strict(&o); err != nil {
			return err
		}
		m.policies = append(m.policies, o)
	default:
		return fmt.Errorf("unexpected %s %s (add it to deploycheck)", head.APIVersion, head.Kind)
	}
	return nil
}

func (m *manifests) rules() []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(m.deployments) != 1 {
		fail("want one Deployment, found %d", len(m.deployments))
		return errs
	}
	d := m.deployments[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		fail("deployment %s: at least 2 replicas", d.Name)
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	if sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels); !sel.Matches(podLabels) {
		fail("deployment %s: its selector does not match its pods", d.Name)
	}
	errs = append(errs, podRules("deployment "+d.Name, d.Spec.Template.Spec, true)...)
	for _, j := range m.jobs {
		errs = append(errs, podRules("job "+j.Name, j.Spec.Template.Spec, false)...)
	}
	covered := false
	for _, p := range m.pdbs {
		if p.Spec.Selector != nil && labels.SelectorFromSet(p.Spec.Selector.MatchLabels).Matches(podLabels) {
			covered = true
			if p.Spec.MinAvailable == nil && p.Spec.MaxUnavailable == nil {
				fail("pdb %s: sets neither minAvailable nor maxUnavailable", p.Name)
			}
		}
	}
	if !covered {
		fail("no PodDisruptionBudget selects the deployment's pods")
	}
	served := false
	for _, s := range m.services {
		if labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			served = true
		}
	}
	if !served {
		fail("no Service selects the deployment's pods")
	}
	// Every ConfigMap and Secret a pod mounts or reads is either here or
	// named in the deployment's instructions (Secrets never are here).
	maps := map[string]bool{}
	for _, c := range m.configMaps {
		maps[c.Name] = true
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil && !maps[v.ConfigMap.Name] && v.ConfigMap.Name != "portero-legal" {
			fail("deployment %s: mounts ConfigMap %s, which is not in the manifests", d.Name, v.ConfigMap.Name)
		}
	}
	return errs
}

// podRules are the operational rules for a pod: non-root, read-only root
// file system, no privilege escalation, no capabilities, a memory limit;
// and for a server, readiness and liveness probes.
func podRules(what string, spec corev1.PodSpec, server bool) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(what+": "+format, args...)) }
	podNonRoot := spec.SecurityContext != nil && spec.SecurityContext.RunAsNonRoot != nil && *spec.SecurityContext.RunAsNonRoot
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		fail("mounts a service account token it does not need")
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil {
			fail("container %s: no securityContext", c.Name)
			continue
		}
		if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
			fail("container %s: may run as root", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			fail("container %s: allows privilege escalation", c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			fail("container %s: writable root file system", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			fail("container %s: does not drop ALL capabilities", c.Name)
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			fail("container %s: no memory limit", c.Name)
		}
		if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
			fail("container %s: no CPU request", c.Name)
		}
		if slices.Contains(c.Args, "--dev") || slices.Contains(c.Command, "--dev") {
			fail("container %s: runs with --dev", c.Name)
		}
		if server {
			if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/health/ready" {
				fail("container %s: no readiness probe on /health/ready", c.Name)
			}
			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/health/alive" {
				fail("container %s: no liveness probe on /health/alive", c.Name)
			}
		}
	}
	return errs
}

// checkCompose loads the compose file as docker compose would (schema
// validation, interpolation with placeholder values for the required
// variables) and applies the same rules to the Portero services.
func checkCompose(path string) []error {
	data, err := os.ReadFile(path) // #nosec G304 G703 -- the repository's own compose file, named on the command line
	if err != nil {
		return []error{err}
	}
	env := types.Mapping{}
	for _, name := range requiredVariables(string(data)) {
		env[name] = "placeholder-" + strings.ToLower(name)
	}
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(path),
		ConfigFiles: []types.ConfigFile{{Filename: path, Content: data}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("portero", true) })
	if err != nil {
		return []error{fmt.Errorf("%s: %w", path, err)}
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(path+": "+format, args...)) }
	replicas := 0
	for name, s := range project.Services {
		if !strings.HasPrefix(name, "portero") {
			continue
		}
		replicas++
		if slices.Contains(s.Command, "--dev") {
			fail("service %s runs with --dev", name)
		}
		if !s.ReadOnly || s.User == "" || s.User == "root" || !slices.Contains(s.CapDrop, "ALL") {
			fail("service %s: want read_only, a non-root user and cap_drop ALL", name)
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			fail("service %s: no healthcheck", name)
		}
		if s.Environment["PORTERO_DATABASE_MIGRATE_ON_START"] == nil || *s.Environment["PORTERO_DATABASE_MIGRATE_ON_START"] != "false" {
			fail("service %s: migrates on start (the migrate service does, as the owner)", name)
		}
	}
	if replicas < 2 {
		fail("want at least two Portero replicas, found %d", replicas)
	}
	for _, need := range []string{"proxy", "postgres", "redis", "migrate"} {
		if _, ok := project.Services[need]; !ok {
			fail("no %s service", need)
		}
	}
	return errs
}

// requiredVariables lists the ${NAME:?…} and ${NAME} variables the file
// uses, so that loading it can supply them.
func requiredVariables(s string) []string {
	var out []string
	for rest := s; ; {
		i := strings.Index(rest, "${")
		if i < 0 {
			break
		}
		rest = rest[i+2:]
		end := strings.IndexAny(rest, ":}-")
		if end < 0 {
			break
		}
		if name := rest[:end]; name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}
