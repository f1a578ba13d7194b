package kubernetes

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// podTemplates are the pod templates of the manifests, by file and name.
func podTemplates(t *testing.T) map[string]corev1.PodSpec {
	t.Helper()
	out := map[string]corev1.PodSpec{}
	for _, o := range decodeAll(t) {
		switch v := o.v.(type) {
		case *batchv1.Job:
			out[o.file+" "+o.name] = v.Spec.Template.Spec
		case *appsv1.Deployment:
			out[o.file+" "+o.name] = v.Spec.Template.Spec
		}
	}
	if len(out) != 3 {
		t.Fatalf("%d pod templates, want the load Job's, the node Job's and the collector's", len(out))
	}
	return out
}

// TestPodSecurity: every pod meets the Pod Security Standard "restricted"
// (admitted in a namespace that enforces it: non-root, no privilege
// escalation, every capability dropped, the runtime's seccomp profile), keeps
// a read-only root file system, mounts no service account token (Typhon calls
// no Kubernetes API), and has requests and a memory limit. Before, the
// manifests dropped no capability and set no seccomp profile: a restricted
// namespace refused all three pods.
func TestPodSecurity(t *testing.T) {
	for name, pod := range podTemplates(t) {
		psc := pod.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: pod securityContext %+v, want runAsNonRoot and a non-zero runAsUser", name, psc)
			continue
		}
		if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccompProfile %+v, want RuntimeDefault", name, psc.SeccompProfile)
		}
		if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken not false", name)
		}
		if pod.HostNetwork || pod.HostPID || pod.HostIPC {
			t.Errorf("%s: shares a host namespace", name)
		}
		for _, c := range append(pod.InitContainers, pod.Containers...) {
			checkContainer(t, name, c)
		}
		for _, v := range pod.Volumes {
			if v.HostPath != nil {
				t.Errorf("%s: volume %s is a host path", name, v.Name)
			}
			if v.EmptyDir != nil && v.EmptyDir.SizeLimit == nil {
				t.Errorf("%s: emptyDir %s without a sizeLimit", name, v.Name)
			}
		}
	}
}

func checkContainer(t *testing.T, pod string, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s/%s: no securityContext", pod, c.Name)
		return
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || (sc.Privileged != nil && *sc.Privileged) {
		t.Errorf("%s/%s: privilege escalation not forbidden", pod, c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s/%s: root file system not read-only", pod, c.Name)
	}
	if sc.Capabilities == nil || len(sc.Capabilities.Add) > 0 || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("%s/%s: capabilities %+v, want drop [ALL] and none added", pod, c.Name, sc.Capabilities)
	}
	if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		t.Errorf("%s/%s: runs as root", pod, c.Name)
	}
	r := c.Resources
	if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Memory().IsZero() {
		t.Errorf("%s/%s: resources %+v, want cpu and memory requests and a memory limit", pod, c.Name, r)
	}
	for _, e := range c.Env {
		if (e.Name == "TYPHON_TOKEN" || e.Name == "TYPHON_UPLOAD_TOKEN") && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("%s/%s: %s not from a Secret", pod, c.Name, e.Name)
		}
	}
}
