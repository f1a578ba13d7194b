package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/typhonbench/typhon/detect"
	"github.com/typhonbench/typhon/internal/testbed"
)

// defaultAddr is the HTTP example's default address, a default port of detect.
const defaultAddr = "127.0.0.1:8000"

// serveOnDefaultAddr serves c on 127.0.0.1:8000, waiting while another process
// (or TestPythonClient) holds the port, and returns once it answers as Typhon.
func serveOnDefaultAddr(t *testing.T, c config) {
	t.Helper()
	c.addr = defaultAddr
	deadline := time.Now().Add(2 * time.Minute)
	for {
		waitPort(t, defaultAddr, time.Until(deadline))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- serve(ctx, c, &syncBuffer{}, &syncBuffer{}) }()
		up := false
		for !up {
			select {
			case err := <-done:
				cancel()
				if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
					t.Fatalf("serve on %s: %v", defaultAddr, err)
				}
			case <-time.After(20 * time.Millisecond):
				resp, err := http.Get("http://" + defaultAddr + "/health")
				if err == nil {
					resp.Body.Close()
					up = resp.Header.Get(detect.TyphonHeader) != ""
				}
				continue
			}
			break // lost the port between the check and the listen: try again
		}
		if up {
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			})
			return
		}
	}
}

// TestOwnServerNotReported: Typhon's HTTP example on 127.0.0.1:8000 (a default
// port of detect, vLLM's) is never reported as an LLM server, neither by its own
// POST /scan nor by detect.Scan with the default options, while a real
// llama-server beside it is found.
func TestOwnServerNotReported(t *testing.T) {
	srv := testbed.LlamaServer(t, testbed.Options{CtxSize: 2048})
	c, err := parseFlags([]string{"-data", t.TempDir()}, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	c.detect = detect.Options{Ports: []int{srv.Port}}
	serveOnDefaultAddr(t, c)

	var scan struct {
		Servers []detect.Server `json:"servers"`
	}
	if code := doJSON(t, "POST", "http://"+defaultAddr+"/scan", &scan); code != http.StatusOK {
		t.Fatalf("POST /scan: status %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	direct, err := detect.Scan(ctx, detect.Options{Ports: []int{srv.Port}})
	if err != nil && !errors.Is(err, detect.ErrNoServer) {
		t.Fatalf("detect.Scan: %v", err)
	}
	defaults, err := detect.Scan(ctx, detect.Options{})
	if err != nil && !errors.Is(err, detect.ErrNoServer) {
		t.Fatalf("detect.Scan with defaults: %v", err)
	}
	for name, servers := range map[string][]detect.Server{"POST /scan": scan.Servers, "detect.Scan": direct, "detect.Scan with defaults": defaults} {
		var found []string
		llama := false
		for _, s := range servers {
			found = append(found, s.BaseURL)
			if s.Port == 8000 || strings.HasSuffix(s.BaseURL, ":8000") {
				t.Errorf("%s reports Typhon's own server: %+v", name, s)
			}
			llama = llama || s.Port == srv.Port
		}
		if !llama && name != "detect.Scan with defaults" {
			t.Errorf("%s did not find the llama-server on port %d (found %v)", name, srv.Port, found)
		}
		t.Logf("%s: %v", name, found)
	}
}
