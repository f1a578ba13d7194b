package detect_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/internal/testbed"
)

// TestListenerPIDs: the process listening on a loopback server's port is found,
// so GPU windows can report the memory the server itself holds.
func TestListenerPIDs(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	got := detect.ListenerPIDs(context.Background(), detect.Server{BaseURL: srv.URL, Port: srv.Port})
	if len(got) != 1 || got[0] != srv.PID() {
		t.Errorf("ListenerPIDs() = %v, want [%d]", got, srv.PID())
	}
}

// TestListenerPIDsOwnListener needs no test bed: this process's own listener is
// found, and a remote or portless server gives nil.
func TestListenerPIDsOwnListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	s := detect.Server{BaseURL: "http://127.0.0.1:" + strconv.Itoa(port), Port: port}
	if got := detect.ListenerPIDs(t.Context(), s); len(got) != 1 || got[0] != os.Getpid() {
		t.Errorf("ListenerPIDs(own listener) = %v, want [%d]", got, os.Getpid())
	}
	for _, s := range []detect.Server{
		{BaseURL: "http://192.0.2.1:8080", Port: 8080},
		{BaseURL: "http://127.0.0.1", Port: 0},
	} {
		if got := detect.ListenerPIDs(t.Context(), s); got != nil {
			t.Errorf("ListenerPIDs(%s port %d) = %v, want nil", s.BaseURL, s.Port, got)
		}
	}
}
