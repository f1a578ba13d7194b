package main

import (
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestIdleConnectionFlood (issue 14, defect 7): 1,000 idle connections take at
// most maxConns file descriptors of the server; the others wait in the
// kernel's queue, and the server answers again once the idle ones are closed.
func TestIdleConnectionFlood(t *testing.T) {
	addr := freeAddr(t)
	base := serveConfig(t, config{addr: addr, data: t.TempDir(), queue: 1, jobTimeout: time.Minute}, io.Discard)
	before := openFDs(t)
	const n = 1000
	var conns []net.Conn
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break // the accept queue is full: the kernel refuses, the server is untouched
		}
		conns = append(conns, c)
	}
	time.Sleep(500 * time.Millisecond) // let the server accept what it will
	grown := openFDs(t) - before - len(conns)
	t.Logf("%d idle connections opened; the server holds %d descriptors for them (limit %d)", len(conns), grown, maxConns)
	if grown > maxConns+16 {
		t.Errorf("the server holds %d descriptors for %d idle connections, want at most %d", grown, len(conns), maxConns+16)
	}
	for _, c := range conns {
		c.Close()
	}
	client := testClient(10 * time.Second)
	resp, err := client.Get(base + "/health")
	if err != nil {
		t.Fatalf("GET /health after the flood: %v", err)
	}
	resp.Body.Close()
}
