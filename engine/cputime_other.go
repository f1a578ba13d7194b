//go:build !unix

package engine

import (
	"runtime"
	"time"
)

// cpuTime is -1: the platform's CPU time is not read.
func cpuTime() time.Duration { return -1 }

func numCPU() int { return runtime.NumCPU() }
