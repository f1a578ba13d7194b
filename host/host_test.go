package host_test

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/host"
)

func TestProfile(t *testing.T) {
	t.Parallel()
	p := host.Profile(context.Background())
	if p.GPUs == nil || len(p.GPUs) != 0 {
		t.Errorf("GPUs = %#v, want an empty list", p.GPUs)
	}
	if p.CPU.LogicalCores < 1 {
		t.Errorf("CPU.LogicalCores = %d, want at least 1", p.CPU.LogicalCores)
	}
	if p.RAM.TotalMB <= 0 || p.RAM.AvailableMB <= 0 || p.RAM.AvailableMB > p.RAM.TotalMB {
		t.Errorf("RAM = %+v, want 0 < available <= total", p.RAM)
	}
	if p.OS.Name != runtime.GOOS || p.OS.Arch != runtime.GOARCH {
		t.Errorf("OS = %+v, want name %s, arch %s", p.OS, runtime.GOOS, runtime.GOARCH)
	}
	if runtime.GOOS == "linux" && (p.CPU.Model == "" || p.OS.Kernel == "") {
		t.Errorf("CPU.Model %q, OS.Kernel %q: want both read on linux", p.CPU.Model, p.OS.Kernel)
	}
	// The profile never carries the machine's name.
	name, err := os.Hostname()
	if err != nil || len(name) < 4 {
		return
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), name) {
		t.Errorf("profile %s holds the host name %q", b, name)
	}
}
