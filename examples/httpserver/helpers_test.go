package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typhonbench/typhon/engine"
	"github.com/typhonbench/typhon/report"
	"github.com/typhonbench/typhon/schema"
)

// tinyTest is a short test of an explicit plan: a 32-token prompt, maxTokens
// tokens out, runs timed runs after the warmup.
func tinyTest(id string, runs, maxTokens int) engine.Test {
	return engine.Test{
		ID: id, Name: "Tiny " + id, Category: schema.CategoryBaseline,
		CtxSize: 2048, PromptTokens: 32, MaxTokens: maxTokens, Runs: runs,
	}
}

func tinyPlan(tests ...engine.Test) *engine.Plan {
	return &engine.Plan{Mode: "quick", Tests: tests}
}

// requestTimeout is the request deadline of the tests' Runners.
const requestTimeout = 60 * time.Second

func fixedTimeout(int) time.Duration { return requestTimeout }

// doRaw sends a request with an optional bearer token and body and returns the
// status, the body and the headers of the answer.
func doRaw(t *testing.T, method, url, token string, body io.Reader) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return resp.StatusCode, b, resp.Header
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// waitPort waits until addr can be listened on (another test may hold it).
func waitPort(t *testing.T, addr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s stays busy: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serveConfig runs serve(c) until the test ends and returns its base URL.
func serveConfig(t *testing.T, c config, stderr io.Writer) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, c, out, stderr) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + c.addr
	waitHTTP(t, base+"/health")
	return base
}

// checkDataDir checks that every JSON file under dir parses and that every line of
// chronicle.jsonl is a whole chronicle line. It returns the chronicle's lines.
func checkDataDir(t *testing.T, dir string) []report.ChronicleLine {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".json") {
			return nil
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !json.Valid(b) {
			t.Errorf("%s does not parse as JSON (%d bytes)", path, len(b))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	if files == 0 {
		t.Errorf("no JSON file under %s", dir)
	}
	b, err := os.ReadFile(filepath.Join(dir, report.ChronicleFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatalf("chronicle: %v", err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("chronicle.jsonl ends in a torn line: %q", b[max(0, len(b)-80):])
	}
	var lines []report.ChronicleLine
	for i, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		l, err := report.DecodeChronicleLine(line)
		if err != nil {
			t.Errorf("chronicle.jsonl line %d: %v (%q)", i+1, err, line)
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// decodeBody decodes a JSON answer and closes its body.
func decodeBody(resp *http.Response, v any) error {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decoding %q: %w", b, err)
	}
	return nil
}
