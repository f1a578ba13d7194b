//go:build unix

package engine

import (
	"runtime"
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) this process has used; -1 when the
// platform does not say.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func numCPU() int { return runtime.NumCPU() }
