package typhon

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/schema"
)

// A cgroup v2 that is not a leaf (a Kubernetes pod, a systemd slice) lists its
// processes in its children: they are the server's too. A cgroup that cannot
// be read, or holds no process, is an error the run stops on, not a silent
// fall back to other processes.
func TestServerCgroupTree(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, procs string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "cgroup.procs"), []byte(procs), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("pod", "")
	write("pod/ctr-a", "4242\n")
	write("pod/ctr-b", "4243\n4244\n")
	write("empty", "")
	got, err := cgroupPIDs(filepath.Join(dir, "pod"))
	if err != nil || !slices.Equal(got, []int{4242, 4243, 4244}) {
		t.Errorf("cgroupPIDs(pod) = %v, %v; want the children's [4242 4243 4244]", got, err)
	}
	if _, err := cgroupPIDs(filepath.Join(dir, "empty")); err == nil || !strings.Contains(err.Error(), "no process") {
		t.Errorf("cgroupPIDs of an empty cgroup: error %v, want one saying it holds no process", err)
	}
	r := &Runner{ServerCgroup: filepath.Join(dir, "none")}
	if _, err := r.pickGPUs(context.Background(), nil, detect.Server{BaseURL: "http://127.0.0.1:1"}, schema.Profile{}); err == nil ||
		!strings.Contains(err.Error(), "cgroup") {
		t.Errorf("pickGPUs with a missing cgroup: error %v, want one naming the cgroup", err)
	}
}
