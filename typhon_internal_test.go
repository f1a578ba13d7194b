package typhon

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/schema"
)

// TestRemoteServer is not parallel: TestRunCancel counts the goroutines of
// package typhon, and a paused parallel test is one.
func TestRemoteServer(t *testing.T) {
	for _, tc := range []struct {
		url    string
		remote bool
	}{
		{"http://127.0.0.1:8080", false},
		{"http://localhost:11434", false},
		{"http://[::1]:8080", false},
		{"http://0.0.0.0:8080", false},
		{"http://192.0.2.1:8080", true},
		{"http://gpu-box.example:8000", true},
	} {
		if got := remoteServer(tc.url) != ""; got != tc.remote {
			t.Errorf("remoteServer(%q) remote = %v, want %v", tc.url, got, tc.remote)
		}
	}
}

func TestCgroupPIDs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("4242\n4243\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := cgroupPIDs(dir)
	if err != nil || !slices.Equal(got, []int{4242, 4243}) {
		t.Errorf("cgroupPIDs(%s) = %v, %v; want [4242 4243]", dir, got, err)
	}
	if _, err := cgroupPIDs(filepath.Join(dir, "none")); err == nil {
		t.Errorf("cgroupPIDs of a missing cgroup: no error")
	}
	// The run's recorder gets them beside the named PIDs.
	r := &Runner{ServerPIDs: []int{7}, ServerCgroup: dir}
	p, err := r.pickGPUs(context.Background(), nil, detect.Server{BaseURL: "http://192.0.2.1:8080"}, schema.Profile{})
	if err != nil || !slices.Equal(p.pids, []int{7, 4242, 4243}) {
		t.Errorf("pickGPUs PIDs = %v, want [7 4242 4243]", p.pids)
	}
}
