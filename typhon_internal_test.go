package typhon

import (
	"context"
	"testing"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/internal/testbed"
)

// TestServerPIDs: the process listening on a loopback server's port is found, so
// GPU windows can report the memory the server itself holds.
func TestServerPIDs(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	got := serverPIDs(context.Background(), detect.Server{BaseURL: srv.URL, Port: srv.Port})
	if len(got) != 1 || got[0] != srv.PID() {
		t.Errorf("serverPIDs() = %v, want [%d]", got, srv.PID())
	}
	if got := serverPIDs(context.Background(), detect.Server{BaseURL: "http://192.0.2.1:8080", Port: 8080}); got != nil {
		t.Errorf("serverPIDs(remote) = %v, want nil", got)
	}
}

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
