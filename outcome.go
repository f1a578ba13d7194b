package typhon

import (
	"strings"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

func serverInfo(s detect.Server) ServerInfo {
	return ServerInfo{
		Name:         s.Name,
		Port:         s.Port,
		APIBase:      s.BaseURL,
		Kind:         s.Kind,
		Version:      s.Version,
		CtxSize:      s.CtxSize,
		Slots:        s.Slots,
		Quantization: s.Quantization,
		Settings:     s.Settings,
	}
}

// refused reports whether the test's last request found the server not accepting
// connections.
func refused(b Benchmark) bool {
	if n := len(b.Runs); n > 0 {
		return b.Runs[n-1].ErrorKind == schema.ErrKindConnectionRefused
	}
	if b.WarmupRun != nil {
		return b.WarmupRun.ErrorKind == schema.ErrKindConnectionRefused
	}
	return false
}

func anySuccess(bs []Benchmark) bool {
	for _, b := range bs {
		if b.SuccessfulRuns > 0 || (b.MemoryWall != nil && b.MemoryWall.LastOKPromptTokens > 0) {
			return true
		}
	}
	return false
}

// failureSummary names each failed test with its first error.
func failureSummary(bs []Benchmark) string {
	var parts []string
	for _, b := range bs {
		why := report.FailureReason(&b)
		switch {
		case b.Skipped:
			parts = append(parts, b.TestID+": skipped: "+why)
		case why != "":
			parts = append(parts, b.TestID+": "+why)
		}
		if len(parts) >= 3 {
			break
		}
	}
	if len(parts) == 0 {
		return "no test ran"
	}
	return strings.Join(parts, "; ")
}
