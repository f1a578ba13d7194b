package gpu

import (
	"fmt"
	"maps"
	"slices"
)

// GPU selections, as GPUStats.GPUSelection names them.
const (
	SelectGiven  = "given"  // Recorder.Indexes
	SelectServer = "server" // GPUs whose process lists hold the server's processes
	SelectAll    = "all"    // every GPU: the server's could not be told
)

// selection is the set of GPUs the windows keep.
type selection struct {
	indexes map[int]bool // nil: all
	scope   string
	note    string
}

// keeps reports whether the selection keeps GPU index i.
func (s selection) keeps(i int) bool { return s.indexes == nil || s.indexes[i] }

// selection decides which GPUs of a round the windows keep: Indexes when set;
// else the GPUs on which a server process has been seen (the set only grows:
// a server that frees a GPU for a moment still owns it); else all, with the
// reason. held[i] says whether readings[i] lists a server process.
// Called from the Run goroutine only.
func (r *Recorder) selection(readings []Reading, held []bool) selection {
	if r.Indexes != nil {
		set := make(map[int]bool, len(r.Indexes))
		for _, i := range r.Indexes {
			set[i] = true
		}
		return selection{indexes: set, scope: SelectGiven}
	}
	listed := false
	for i, rd := range readings {
		if rd.ProcessMemMB != nil {
			listed = true
		}
		if held[i] {
			if r.serverGPUs == nil {
				r.serverGPUs = map[int]bool{}
			}
			r.serverGPUs[rd.Index] = true
		}
	}
	if len(r.serverGPUs) > 0 {
		return selection{indexes: maps.Clone(r.serverGPUs), scope: SelectServer}
	}
	note := "the server's processes are not known, so its GPUs cannot be told"
	if len(r.PIDs) > 0 {
		note = r.processNote(listed, false)
	}
	return selection{scope: SelectAll, note: note + "; the figures cover every GPU"}
}

// processNote says why the server's processes hold no memory that NVML
// reports, given whether any GPU listed its processes and whether NVML listed
// a server process without a figure.
func (r *Recorder) processNote(listed, unknown bool) string {
	switch {
	case unknown:
		return "NVML lists the server's processes but reports their memory as not available (NVML_VALUE_NOT_AVAILABLE: " +
			"the driver cannot account it per process, as under WDDM, or Typhon may not see it)"
	case len(r.PIDs) == 0:
		return "the server's processes are not known (a server on another host, or no process visible to Typhon listens on its port)"
	case !listed:
		return "NVML lists no processes on these GPUs (the driver does not support it, or Typhon lacks the permission)"
	}
	return fmt.Sprintf("no process NVML lists on these GPUs is one of the server's (PIDs %v) or a descendant: "+
		"the server may have no model loaded yet, run in a container whose PIDs differ from the host's, or sit behind a proxy",
		slices.Clone(r.PIDs))
}

// ServerGPUs returns, in order, the indexes of the GPUs in readings whose
// process lists hold one of pids or a descendant of one.
func ServerGPUs(readings []Reading, pids []int) []int {
	if len(pids) == 0 {
		return nil
	}
	r := &Recorder{PIDs: pids}
	var out []int
	for _, rd := range readings {
		if _, held := r.serverMem(rd); held && !slices.Contains(out, rd.Index) {
			out = append(out, rd.Index)
		}
	}
	slices.Sort(out)
	return out
}
