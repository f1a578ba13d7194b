package typhon

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/gpu"
	"github.com/typhonbench/typhon/schema"
)

// hardware opens telemetry (openTelemetry) for a run on srv. A server on
// another host gets none: its figures would be this machine's;
// res.GPUUnavailable says why. The returned func closes what it opened; the
// sampler is nil when there is nothing to sample.
func (r *Runner) hardware(ctx context.Context, srv detect.Server, res *Result) (gpu.Sampler, schema.Profile, func()) {
	if why := remoteServer(srv.BaseURL); why != "" && r.GPUIndexes == nil {
		res.GPUUnavailable = why
		return nil, schema.Profile{GPUs: []schema.GPUInfo{}, GPUError: why}, func() {}
	}
	t := openTelemetry(ctx, r.GPU)
	res.GPUUnavailable = t.profile.GPUError
	return t.sampler, t.profile, t.close
}

// remoteServer says why a server at base is not on this machine, "" when it
// is (a loopback address, localhost, this host's name or one of its
// addresses).
func remoteServer(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return ""
	}
	if name, err := os.Hostname(); err == nil && strings.EqualFold(host, name) {
		return ""
	}
	ip := net.ParseIP(host)
	if ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		return ""
	}
	if ip != nil {
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				return ""
			}
		}
	}
	return fmt.Sprintf("the server at %s is not on this machine: this machine's GPUs are not its, so no GPU figures are taken (name the GPUs to sample them anyway)", host)
}

// gpuPick is what a run knows of the server's GPUs before its tests start.
type gpuPick struct {
	indexes []int   // GPUs named by the caller; nil: found from the server's processes
	pids    []int   // the server's processes
	vramMB  float64 // memory of the server's GPUs, for the plan
}

// pickGPUs finds the server's processes and, when the caller named no GPUs,
// the GPUs that hold them now (one sampling round). vramMB is the total memory
// of those GPUs, or of GPU 0 when they cannot be told yet (a server that loads
// its model on the first request).
func (r *Runner) pickGPUs(ctx context.Context, sampler gpu.Sampler, srv detect.Server, prof schema.Profile) (gpuPick, error) {
	p := gpuPick{indexes: slices.Clone(r.GPUIndexes), pids: slices.Clone(r.ServerPIDs)}
	if r.ServerCgroup != "" {
		pids, err := cgroupPIDs(r.ServerCgroup)
		if err != nil {
			return p, err
		}
		p.pids = append(p.pids, pids...)
	}
	if p.pids == nil && remoteServer(srv.BaseURL) == "" {
		p.pids = detect.ListenerPIDs(ctx, srv)
	}
	if len(prof.GPUs) == 0 {
		return p, nil
	}
	p.vramMB = prof.GPUs[0].MemoryTotalMB
	held := p.indexes
	if held == nil && sampler != nil && len(p.pids) > 0 {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		readings, _ := sampler.Sample(sctx)
		cancel()
		held = gpu.ServerGPUs(readings, p.pids)
	}
	var sum float64
	for _, g := range prof.GPUs {
		if slices.Contains(held, g.Index) {
			sum += g.MemoryTotalMB
		}
	}
	if sum > 0 {
		p.vramMB = sum
	}
	return p, nil
}

// recorder is the GPU recorder of a run: the named GPUs, or those that hold
// the server's processes as the recorder finds them.
func (p gpuPick) recorder(r *Runner, sampler gpu.Sampler) *gpu.Recorder {
	if sampler == nil {
		return nil
	}
	return &gpu.Recorder{Sampler: sampler, Interval: r.GPUInterval, Indexes: p.indexes, PIDs: p.pids, Logger: r.logger()}
}

// withEnergyPerToken sets a test's energy per output token: its window's
// energy over the output tokens of its runs (the window covers them).
func withEnergyPerToken(b Benchmark) Benchmark {
	e := b.GPUStats.EnergyJ
	if e == nil || *e <= 0 {
		return b
	}
	tokens := 0
	for _, run := range b.Runs {
		tokens += run.OutputTokens
	}
	if tokens > 0 {
		v := *e / float64(tokens)
		v = math.Round(v*1e6) / 1e6
		b.GPUStats.EnergyPerOutputTokenJ = &v
	}
	return b
}

// cgroupRoot is where cgroup v2 is mounted.
var cgroupRoot = "/sys/fs/cgroup"

// maxCgroupPIDs bounds how many processes a cgroup tree may give.
const maxCgroupPIDs = 100_000

// cgroupPIDs lists the processes of a cgroup (v2: cgroup.procs) and of the
// cgroups under it (a pod's or a slice's processes live in its children),
// named by its path under cgroupRoot or absolutely. A cgroup that cannot be
// read or holds no process is an error.
func cgroupPIDs(cgroup string) ([]int, error) {
	dir := cgroup
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cgroupRoot, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		return nil, fmt.Errorf("the server's cgroup: %w", err)
	}
	var pids []int
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 && len(pids) < maxCgroupPIDs {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("the server's cgroup: %w", err)
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("the server's cgroup %s holds no process", dir)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}
