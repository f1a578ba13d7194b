//go:build linux && cgo

package nvml

import (
	"context"
	"strings"
	"sync"
	"testing"

	nv "github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// MIG instances made or destroyed while Typhon runs: a new one is sampled under
// a new index (the server on it is found), one destroyed is dropped with a note,
// not failed every round, and the indexes of the others do not move.
func TestSamplerMIGInstancesComeAndGo(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	slots := []*mock.Device{migSlice("MIG-a", 20480, 40960, 500), nil}
	parent := fakeGPU{name: "NVIDIA H100 80GB HBM3", uuid: "GPU-h100", usedV2: 30 * gib, total: 80 * gib, migs: []*mock.Device{}}
	dev := parent.device()
	dev.GetMaxMigDeviceCountFunc = func() (int, nv.Return) { return 2, nv.SUCCESS }
	dev.GetMigDeviceHandleByIndexFunc = func(i int) (nv.Device, nv.Return) {
		mu.Lock()
		defer mu.Unlock()
		if slots[i] == nil {
			return nil, nv.ERROR_NOT_FOUND
		}
		return slots[i], nv.SUCCESS
	}
	s, err := newSampler(fakeLib(nil, dev), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.migs.every = 0 // rescan every round
	ctx := context.Background()
	indexes := func() map[string]int {
		rd, err := s.Sample(ctx)
		if err != nil {
			t.Errorf("Sample() error = %v", err)
		}
		m := map[string]int{}
		for _, r := range rd {
			m[r.UUID] = r.Index
		}
		return m
	}
	if got := indexes(); got["MIG-a"] != 1 || len(got) != 2 {
		t.Fatalf("before: %v, want GPU-h100 0 and MIG-a 1", got)
	}
	// MIG-b is made in slot 1, then MIG-a is destroyed (its handle fails).
	mu.Lock()
	slots[1] = migSlice("MIG-b", 10240, 40960, 600)
	mu.Unlock()
	if got := indexes(); got["MIG-a"] != 1 || got["MIG-b"] != 2 {
		t.Errorf("MIG-b made: %v, want MIG-a 1 and MIG-b 2", got)
	}
	mu.Lock()
	gone := slots[0]
	slots[0] = nil
	mu.Unlock()
	gone.GetMemoryInfoFunc = func() (nv.Memory, nv.Return) { return nv.Memory{}, nv.ERROR_INVALID_ARGUMENT }
	gone.GetComputeRunningProcessesFunc = func() ([]nv.ProcessInfo, nv.Return) { return nil, nv.ERROR_INVALID_ARGUMENT }
	gone.GetGraphicsRunningProcessesFunc = gone.GetComputeRunningProcessesFunc
	for range 3 {
		if got := indexes(); len(got) != 2 || got["MIG-b"] != 2 {
			t.Errorf("MIG-a destroyed: %v, want GPU-h100 0 and MIG-b 2 without errors", got)
		}
	}
	devs, _ := s.Devices(ctx)
	if len(devs) != 2 || devs[1].UUID != "MIG-b" || devs[1].Index != 2 {
		t.Errorf("Devices() = %+v, want GPU-h100 and MIG-b (index 2)", devs)
	}
	notes := strings.Join(s.Notes(), "\n")
	if !strings.Contains(notes, "MIG-b") || !strings.Contains(notes, "MIG-a") {
		t.Errorf("notes %q do not say MIG-b appeared and MIG-a went", notes)
	}
}
