// Package kubernetes holds the manifests of deploy/kubernetes; its test decodes
// each of them strictly into the Kubernetes API types.
package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest.
type object struct {
	file, kind, name string
	v                any
}

// decodeAll decodes every document of every YAML file here strictly: a field
// the Kubernetes API does not have fails, as do duplicate keys.
func decodeAll(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var out []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			o, err := decode([]byte(doc))
			if err != nil {
				t.Errorf("%s document %d: %v", f, i+1, err)
				continue
			}
			o.file = f
			out = append(out, o)
		}
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// decode decodes one document strictly into the type of its apiVersion and kind.
func decode(doc []byte) (object, error) {
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return object{}, err
	}
	var v any
	switch meta.APIVersion + " " + meta.Kind {
	case "batch/v1 Job":
		v = &batchv1.Job{}
	case "apps/v1 Deployment":
		v = &appsv1.Deployment{}
	case "v1 Service":
		v = &corev1.Service{}
	case "v1 Secret":
		v = &corev1.Secret{}
	case "v1 PersistentVolumeClaim":
		v = &corev1.PersistentVolumeClaim{}
	default:
		return object{}, fmt.Errorf("unexpected %s %s", meta.APIVersion, meta.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, v); err != nil {
		return object{}, err
	}
	name := ""
	switch o := v.(type) {
	case *batchv1.Job:
		name = o.Name
	case *appsv1.Deployment:
		name = o.Name
	case *corev1.Service:
		name = o.Name
	case *corev1.Secret:
		name = o.Name
	case *corev1.PersistentVolumeClaim:
		name = o.Name
	}
	return object{kind: meta.Kind, name: name, v: v}, nil
}

func find(t *testing.T, objs []object, kind, name string) any {
	t.Helper()
	for _, o := range objs {
		if o.kind == kind && o.name == name {
			return o.v
		}
	}
	t.Fatalf("no %s %s in the manifests", kind, name)
	return nil
}

// TestStrictDecodeCatchesUnknownFields: the decoding the tests rely on fails on
// a field the API does not have.
func TestStrictDecodeCatchesUnknownFields(t *testing.T) {
	t.Parallel()
	doc := "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: x\nspec:\n  paralellism: 3\n"
	if _, err := decode([]byte(doc)); err == nil {
		t.Error("a misspelt field decoded")
	}
}

// env returns the container's variables by name.
func env(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

// TestLoadJob: the Indexed Job's workers, parallelism and completions agree
// with TYPHON_WORKERS, each reads its index, the shared clock, the collector
// and the token, and every variable it sets is one the worker reads.
func TestLoadJob(t *testing.T) {
	t.Parallel()
	objs := decodeAll(t)
	job := find(t, objs, "Job", "typhon-load").(*batchv1.Job)
	s := job.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("completionMode %v, want Indexed", s.CompletionMode)
	}
	if s.Completions == nil || s.Parallelism == nil || *s.Completions != *s.Parallelism {
		t.Fatalf("completions %v, parallelism %v: want equal, every worker at once", s.Completions, s.Parallelism)
	}
	if s.BackoffLimit == nil || *s.BackoffLimit != 0 || s.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("backoffLimit %v, restartPolicy %s: want 0 and Never (a retried worker misses the clock)", s.BackoffLimit, s.Template.Spec.RestartPolicy)
	}
	if len(s.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(s.Template.Spec.Containers))
	}
	c := s.Template.Spec.Containers[0]
	e := env(c)
	if n, err := strconv.Atoi(e["TYPHON_WORKERS"].Value); err != nil || int32(n) != *s.Completions {
		t.Errorf("TYPHON_WORKERS %q, completions %d: want equal", e["TYPHON_WORKERS"].Value, *s.Completions)
	}
	idx := e["JOB_COMPLETION_INDEX"].ValueFrom
	if idx == nil || idx.FieldRef == nil || idx.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("JOB_COMPLETION_INDEX %+v, want the job-completion-index annotation", idx)
	}
	if e["TYPHON_START_AT"].Value == "" {
		t.Error("no TYPHON_START_AT: the workers have no shared clock")
	}
	checkUpload(t, objs, e)
	if !strings.Contains(strings.Join(c.Args, " "), "run -mode load") {
		t.Errorf("args %q, want run -mode load", c.Args)
	}
	checkWorkerReads(t, e)
}

// checkUpload checks that a pod uploads to the collector's Service with the
// token of its Secret.
func checkUpload(t *testing.T, objs []object, e map[string]corev1.EnvVar) {
	t.Helper()
	svc := find(t, objs, "Service", "typhon-collector").(*corev1.Service)
	want := fmt.Sprintf("http://%s:%d", svc.Name, svc.Spec.Ports[0].Port)
	if got := e["TYPHON_UPLOAD"].Value; got != want {
		t.Errorf("TYPHON_UPLOAD %q, want the collector %q", got, want)
	}
	tok := e["TYPHON_UPLOAD_TOKEN"].ValueFrom
	sec := find(t, objs, "Secret", "typhon-token").(*corev1.Secret)
	if tok == nil || tok.SecretKeyRef == nil || tok.SecretKeyRef.Name != sec.Name {
		t.Fatalf("TYPHON_UPLOAD_TOKEN %+v, want the Secret %s", tok, sec.Name)
	}
	if _, ok := sec.StringData[tok.SecretKeyRef.Key]; !ok {
		t.Errorf("the Secret has no key %q", tok.SecretKeyRef.Key)
	}
}

// checkWorkerReads checks that every variable of the Typhon worker set in a
// manifest is read by the command (examples/typhon/worker.go).
func checkWorkerReads(t *testing.T, e map[string]corev1.EnvVar) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "typhon", "worker.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range e {
		if (strings.HasPrefix(name, "TYPHON_") || strings.HasPrefix(name, "JOB_")) && !bytes.Contains(src, []byte(`"`+name+`"`)) {
			t.Errorf("the manifest sets %s, which the worker does not read", name)
		}
	}
}

// TestCollector: the Deployment serves the port the Service targets, reads its
// token from the Secret and keeps its records on the claim.
func TestCollector(t *testing.T) {
	t.Parallel()
	objs := decodeAll(t)
	d := find(t, objs, "Deployment", "typhon-collector").(*appsv1.Deployment)
	svc := find(t, objs, "Service", "typhon-collector").(*corev1.Service)
	find(t, objs, "PersistentVolumeClaim", "typhon-data")
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, the pods are labelled %q", k, v, d.Spec.Template.Labels[k])
		}
	}
	c := d.Spec.Template.Spec.Containers[0]
	if len(c.Ports) == 0 || svc.Spec.Ports[0].TargetPort.StrVal != c.Ports[0].Name {
		t.Errorf("the Service targets %v, the container's ports are %+v", svc.Spec.Ports[0].TargetPort, c.Ports)
	}
	if tok := env(c)["TYPHON_TOKEN"].ValueFrom; tok == nil || tok.SecretKeyRef == nil || tok.SecretKeyRef.Name != "typhon-token" {
		t.Errorf("TYPHON_TOKEN %+v, want the Secret typhon-token", tok)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1: one writer of the data directory", d.Spec.Replicas)
	}
}

// TestNodeJob: the per-node Job is pinned to one node by required node
// affinity and uploads to the collector.
func TestNodeJob(t *testing.T) {
	t.Parallel()
	objs := decodeAll(t)
	job := find(t, objs, "Job", "typhon-node-NODE_NAME").(*batchv1.Job)
	aff := job.Spec.Template.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		t.Fatal("no required node affinity")
	}
	terms := aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 {
		t.Fatalf("node selector terms %+v, want one expression", terms)
	}
	m := terms[0].MatchExpressions[0]
	if m.Key != corev1.LabelHostname || m.Operator != corev1.NodeSelectorOpIn || len(m.Values) != 1 || m.Values[0] != "NODE_NAME" {
		t.Errorf("match %+v, want %s In [NODE_NAME]", m, corev1.LabelHostname)
	}
	e := env(job.Spec.Template.Spec.Containers[0])
	checkUpload(t, objs, e)
	checkWorkerReads(t, e)
}
