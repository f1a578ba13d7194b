//go:build linux

package testbed

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/typhonbench/typhon/internal/testmodel"
	"github.com/typhonbench/typhon/schema"
)

// client does not reuse connections: llama-server closes the connection after a
// streamed response although it answered "Keep-Alive", and a POST sent on such a
// connection fails with EOF.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// chatResult is what a streamed chat completion gave.
type chatResult struct {
	contents      []string        // content of each chunk that had some
	finishReasons []string        // non-empty finish_reason values
	usage         *usage          // from the chunk that had it
	timings       json.RawMessage // llama-server's timings, from the last chunk
	done          bool            // saw data: [DONE]
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// streamChat sends a streaming /v1/chat/completions request and parses the SSE
// answer. extra is merged into the request body.
func streamChat(t *testing.T, s *Server, maxTokens int, extra map[string]any) chatResult {
	t.Helper()
	req := map[string]any{
		"model":          s.Model,
		"messages":       []map[string]string{{"role": "user", "content": "Tell me a story about the sea."}},
		"max_tokens":     maxTokens,
		"stream":         true,
		"stream_options": map[string]any{"include_usage": true},
	}
	for k, v := range extra {
		req[k] = v
	}
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		t.Fatalf("chat completion: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("chat completion: status %d: %s", resp.StatusCode, b)
	}
	var res chatResult
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			res.done = true
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage   *usage          `json:"usage"`
			Timings json.RawMessage `json:"timings"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		for _, c := range chunk.Choices {
			if c.Delta.Content != "" {
				res.contents = append(res.contents, c.Delta.Content)
			}
			if c.FinishReason != nil && *c.FinishReason != "" {
				res.finishReasons = append(res.finishReasons, *c.FinishReason)
			}
		}
		if chunk.Usage != nil {
			res.usage = chunk.Usage
		}
		res.timings = chunk.Timings
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return res
}

// checkGeneration checks that a chat completion generated exactly want tokens, each
// printable text in a chunk of its own.
func checkGeneration(t *testing.T, res chatResult, want int) {
	t.Helper()
	if res.usage == nil {
		t.Fatalf("no usage in the stream")
	}
	if got := res.usage.CompletionTokens; got != want {
		t.Errorf("usage.completion_tokens = %d, want %d", got, want)
	}
	if res.usage.PromptTokens <= 0 {
		t.Errorf("usage.prompt_tokens = %d, want > 0", res.usage.PromptTokens)
	}
	if got := len(res.contents); got != want {
		t.Errorf("%d content chunks, want %d (one per token)", got, want)
	}
	for i, c := range res.contents {
		if !utf8.ValidString(c) || strings.TrimSpace(c) == "" || strings.IndexFunc(c, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			t.Errorf("chunk %d = %q, want printable text", i, c)
		}
	}
	if diff := cmp.Diff([]string{"length"}, res.finishReasons); diff != "" {
		t.Errorf("finish reasons (-want +got):\n%s", diff)
	}
	if !res.done {
		t.Errorf("stream did not end with data: [DONE]")
	}
}

// getJSON fetches url and decodes its JSON body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body, err := request(t.Context(), client, http.MethodGet, url, nil, 30*time.Second)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

func TestLlamaServerSmoke(t *testing.T) {
	t.Parallel()
	s := LlamaServer(t, Options{Parallel: 2, CtxSize: 2048})
	if s.Kind != KindLlama || s.Model != DefaultModelName || s.Port == 0 || s.URL != "http://127.0.0.1:"+strconv.Itoa(s.Port) {
		t.Errorf("server = {Kind %q, Model %q, Port %d, URL %q}", s.Kind, s.Model, s.Port, s.URL)
	}

	res := streamChat(t, s, 64, map[string]any{"temperature": 0})
	checkGeneration(t, res, 64)
	var timings struct {
		PromptN            *int     `json:"prompt_n"`
		PromptMS           *float64 `json:"prompt_ms"`
		PredictedN         *int     `json:"predicted_n"`
		PredictedMS        *float64 `json:"predicted_ms"`
		PredictedPerSecond *float64 `json:"predicted_per_second"`
	}
	if len(res.timings) == 0 {
		t.Fatalf("the last chunk has no timings")
	}
	if err := json.Unmarshal(res.timings, &timings); err != nil {
		t.Fatalf("timings %s: %v", res.timings, err)
	}
	if timings.PredictedN == nil || *timings.PredictedN != 64 {
		t.Errorf("timings.predicted_n = %v, want 64 (timings %s)", timings.PredictedN, res.timings)
	}
	if timings.PromptN == nil || timings.PromptMS == nil || timings.PredictedMS == nil || timings.PredictedPerSecond == nil || *timings.PredictedPerSecond <= 0 {
		t.Errorf("timings %s: want prompt_n, prompt_ms, predicted_ms and a positive predicted_per_second", res.timings)
	} else {
		t.Logf("llama-server: %d prompt tokens in %.1f ms, 64 tokens at %.0f tokens/s", *timings.PromptN, *timings.PromptMS, *timings.PredictedPerSecond)
	}

	// The server's default sampling (no temperature given) must not reach the end
	// of sequence nor a byte token either.
	checkGeneration(t, streamChat(t, s, 64, nil), 64)

	var props struct {
		TotalSlots int `json:"total_slots"`
	}
	getJSON(t, s.URL+"/props", &props)
	if props.TotalSlots != 2 {
		t.Errorf("/props total_slots = %d, want 2 (Options.Parallel)", props.TotalSlots)
	}
	var models struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	getJSON(t, s.URL+"/v1/models", &models)
	if len(models.Data) != 1 || models.Data[0].ID != DefaultModelName {
		t.Errorf("/v1/models = %+v, want one model %q", models.Data, DefaultModelName)
	}
}

func TestOllamaSmoke(t *testing.T) {
	t.Parallel()
	s := Ollama(t, Options{CtxSize: 2048})
	if s.Kind != KindOllama || s.Model != DefaultModelName || s.Port == 0 {
		t.Errorf("server = {Kind %q, Model %q, Port %d}", s.Kind, s.Model, s.Port)
	}
	checkGeneration(t, streamChat(t, s, 64, map[string]any{"temperature": 0}), 64)
	checkGeneration(t, streamChat(t, s, 64, nil), 64)

	// The model was loaded before Ollama returned, with the context size asked for.
	var ps struct {
		Models []struct {
			Name          string `json:"name"`
			ContextLength int    `json:"context_length"`
		} `json:"models"`
	}
	getJSON(t, s.URL+"/api/ps", &ps)
	if len(ps.Models) != 1 || ps.Models[0].ContextLength != 2048 {
		t.Errorf("/api/ps models = %+v, want one with context_length 2048", ps.Models)
	}
}

// ourProcesses returns the processes of a stopped server that are still there: in
// its process group, or with its private paths on their command line.
func ourProcesses(t *testing.T, pgid int, markers ...string) []string {
	t.Helper()
	var out []string
	for pid, st := range allProcs() {
		if st.state == 'Z' {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		line := strings.ReplaceAll(string(cmdline), "\x00", " ")
		mine := st.pgrp == pgid
		for _, m := range markers {
			mine = mine || (m != "" && strings.Contains(line, m))
		}
		if mine {
			out = append(out, fmt.Sprintf("%d %s", pid, line))
		}
	}
	return out
}

// portFree reports whether the port can be listened on.
func portFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

func TestCleanup(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		start func(TB, Options) *Server
	}{
		{"llama-server", LlamaServer},
		{"ollama", Ollama},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				s        *Server
				pid      int
				children []proc
			)
			// The server lives in a subtest: its cleanup stops it.
			t.Run("serve", func(t *testing.T) {
				s = tc.start(t, Options{})
				checkGeneration(t, streamChat(t, s, 8, map[string]any{"temperature": 0}), 8)
				pid = s.PID()
				children = descendants(pid)
			})
			if t.Failed() || s == nil {
				return
			}
			if pid == 0 {
				t.Fatalf("PID() of the running server was 0")
			}
			if tc.name == "ollama" && len(children) == 0 {
				t.Errorf("ollama had no runner process while serving")
			}
			if err := portFree(s.Port); err != nil {
				t.Errorf("port %d after the test: %v", s.Port, err)
			}
			if left := ourProcesses(t, pid, s.tmp, s.rootTmp); len(left) > 0 {
				t.Errorf("processes left after the test:\n%s", strings.Join(left, "\n"))
			}
			for _, c := range children {
				if c.isLive() {
					t.Errorf("child %d left after the test", c.pid)
				}
			}
			for _, dir := range []string{s.tmp, s.rootTmp} {
				if _, err := os.Stat(dir); dir != "" && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("temporary directory %s after the test: %v, want it removed", dir, err)
				}
			}
			if got := s.PID(); got != 0 {
				t.Errorf("PID() after the test = %d, want 0", got)
			}
		})
	}
}

func TestKillRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		start func(TB, Options) *Server
	}{
		{"llama-server", LlamaServer},
		{"ollama", Ollama},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t, Options{})
			pid := s.PID()
			if err := s.Kill(); err != nil {
				t.Fatalf("Kill: %v", err)
			}
			if s.Running() {
				t.Errorf("Running() after Kill = true")
			}
			if left := ourProcesses(t, pid, s.tmp, s.rootTmp); len(left) > 0 {
				t.Errorf("processes left after Kill:\n%s", strings.Join(left, "\n"))
			}
			if _, err := client.Get(s.URL + "/"); err == nil {
				t.Errorf("GET %s/ after Kill succeeded, want a connection error", s.URL)
			}
			port := s.Port
			if err := s.Restart(t.Context()); err != nil {
				t.Fatalf("Restart: %v", err)
			}
			if s.Port != port || s.PID() == 0 || s.PID() == pid {
				t.Errorf("after Restart: port %d, pid %d; want port %d and a new pid", s.Port, s.PID(), port)
			}
			checkGeneration(t, streamChat(t, s, 16, map[string]any{"temperature": 0}), 16)
			if err := s.Stop(); err != nil {
				t.Errorf("Stop: %v", err)
			}
			if err := portFree(port); err != nil {
				t.Errorf("port %d after Stop: %v", port, err)
			}
			if !strings.Contains(s.Log(), "--- testbed:") {
				t.Errorf("Log() has no start marker:\n%s", tail(s.Log(), 2000))
			}
		})
	}
}

// TestCorruptModel checks that a broken model file makes Start fail with the
// server's own explanation.
func TestCorruptModel(t *testing.T) {
	t.Parallel()
	var good bytes.Buffer
	if err := testmodel.Write(&good, testmodel.Config{}); err != nil {
		t.Fatal(err)
	}
	models := []struct {
		name string
		data []byte
	}{
		{"truncated", good.Bytes()[:good.Len()/2]},
		{"garbage", bytes.Repeat([]byte("not a model "), 1000)},
	}
	kinds := []struct {
		kind schema.Kind
		// want is said by the server about each broken file.
		want map[string]string
	}{
		{KindLlama, map[string]string{"truncated": "failed to load model", "garbage": "failed to load model"}},
		{KindOllama, map[string]string{"truncated": "exceeds file size", "garbage": "not in GGUF format"}},
	}
	for _, k := range kinds {
		for _, m := range models {
			t.Run(string(k.kind)+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				if err := Locate("").check(k.kind, "x"); errors.Is(err, ErrNotProvisioned) && !Required() {
					t.Skip(err)
				}
				path := filepath.Join(t.TempDir(), "broken.gguf")
				if err := os.WriteFile(path, m.data, 0o644); err != nil {
					t.Fatal(err)
				}
				s, err := Start(t.Context(), k.kind, Options{ModelPath: path, StartTimeout: time.Minute})
				if err == nil {
					s.Close()
					t.Fatalf("Start with a %s model succeeded, want an error", m.name)
				}
				t.Logf("error: %v", err)
				if errors.Is(err, ErrNotProvisioned) {
					t.Fatalf("error wraps ErrNotProvisioned: %v", err)
				}
				if want := k.want[m.name]; !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q: %v", want, err)
				}
			})
		}
	}
}

func TestListensOn(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if !listensOn(os.Getpid(), port) {
		t.Errorf("listensOn(self, %d) = false, want true", port)
	}
	if listensOn(os.Getppid(), port) {
		t.Errorf("listensOn(parent, %d) = true, want false", port)
	}
	other, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	if listensOn(os.Getpid(), other) {
		t.Errorf("listensOn(self, %d) = true for a port nobody listens on", other)
	}
}

// TestPortTaken checks that a server asked for a port another server holds fails,
// rather than taking the other server's answers for its own.
func TestPortTaken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		kind  schema.Kind
		start func(TB, Options) *Server
	}{
		{"llama-server", KindLlama, LlamaServer},
		{"ollama", KindOllama, Ollama},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			first := tc.start(t, Options{})
			s, err := Start(t.Context(), tc.kind, Options{Port: first.Port, StartTimeout: time.Minute})
			if err == nil {
				s.Close()
				t.Fatalf("second server on port %d started, want an error", first.Port)
			}
			if !errors.Is(err, errPortInUse) {
				t.Errorf("error does not wrap errPortInUse: %v", err)
			}
			checkGeneration(t, streamChat(t, first, 4, map[string]any{"temperature": 0}), 4)
		})
	}
}

func TestRemoveOrphans(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	mk := func(name, owner string) string {
		d := filepath.Join(base, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(d, ownerFile), []byte(owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	me := self()
	// A process that has exited and been reaped.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{ // dir -> kept
		mk("typhon-mine", fmt.Sprintf("%d %d\n", me.pid, me.start)):     true,
		mk("typhon-dead", fmt.Sprintf("%d 1\n", cmd.Process.Pid)):       false,
		mk("typhon-reused", fmt.Sprintf("%d %d\n", me.pid, me.start+1)): false, // same pid, other process
		mk("typhon-no-owner", ""):                                       true,
		mk("typhon-garbage", "not a pid"):                               true,
		mk("other-dead", fmt.Sprintf("%d 1\n", cmd.Process.Pid)):        true, // not matched
	}
	removeOrphans(filepath.Join(base, "typhon-*"))
	for d, kept := range dirs {
		_, err := os.Stat(d)
		if got := err == nil; got != kept {
			t.Errorf("%s kept = %v, want %v", filepath.Base(d), got, kept)
		}
	}
}
