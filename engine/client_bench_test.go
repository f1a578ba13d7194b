package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/typhonbench/typhon/internal/stats"
)

// The client benchmark: is Typhon's receiving side ever the bottleneck? A fake
// server in another process (this test binary, pinned to the last core) streams
// llama-server-like chunks, one token each, flushed one by one; the client (this
// process, pinned to the first core) measures them as a load level does.
//
//	go test -run '^$' -bench Client -benchtime 1x ./engine
//
// BenchmarkClientOneStream: one stream at full speed: the client's CPU per
// 1,000 tokens and the tokens it ingests per second of CPU.
// BenchmarkClientDecode: the same stream decoded from memory, without the
// network: Typhon's own processing per token.
// BenchmarkClientPaced: ClientStreams (500; TYPHON_BENCH_STREAMS changes it) streams paced at 10 ms per token: the ITL
// p50 and p99 Typhon records against the true 10 ms, the spread of the server's
// send times, the client's CPU per 1,000 tokens and its memory per stream.
// Each also prints a plain net/http + bufio reader (baselineStreams) under the
// same load, and the read system calls per token of both.

const (
	envFakeStream = "TYPHON_FAKE_STREAM_SERVER"
	envFakePace   = "TYPHON_FAKE_STREAM_PACE"
	// benchChunk is a content chunk as llama-server sends it.
	benchChunk = `{"choices":[{"finish_reason":null,"index":0,"delta":{"content":" tok"}}],"created":1764580000,"id":"chatcmpl-4fYq0Zr3kE2vJt8pXo1m","model":"tiny","system_fingerprint":"b7001-Debian","object":"chat.completion.chunk","timings":{"cache_n":0,"prompt_n":81,"prompt_ms":12.5,"prompt_per_second":6480.0,"predicted_n":%d,"predicted_ms":%d.5,"predicted_per_second":98.7}}`
)

// TestHelperStreamServer is the fake server's process; it does nothing unless
// run by the benchmarks.
func TestHelperStreamServer(t *testing.T) {
	addr := os.Getenv(envFakeStream)
	if addr == "" {
		t.Skip("helper process of the client benchmarks")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var late []float64 // each send's lateness against its schedule, ms
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			MaxTokens int `json:"max_tokens"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n := body.MaxTokens
		pace, _ := time.ParseDuration(os.Getenv(envFakePace))
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		t0 := time.Now()
		var mine []float64
		var buf []byte
		for i := range n {
			if pace > 0 {
				due := t0.Add(time.Duration(i) * pace)
				time.Sleep(time.Until(due))
				mine = append(mine, float64(time.Since(due))/1e6)
			}
			buf = fmt.Appendf(buf[:0], "data: "+benchChunk+"\n\n", i+1, i)
			_, _ = w.Write(buf)
			fl.Flush()
		}
		fmt.Fprintf(w, "data: {\"choices\":[{\"finish_reason\":\"length\",\"index\":0,\"delta\":{}}]}\n\n")
		fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":{\"completion_tokens\":%d,\"prompt_tokens\":81,\"total_tokens\":%d}}\n\ndata: [DONE]\n\n", n, n+81)
		mu.Lock()
		late = append(late, mine...)
		mu.Unlock()
	})
	mux.HandleFunc("GET /late", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "%.3f %.3f %.3f\n", stats.Percentile(late, 50), stats.Percentile(late, 99), slices.Max(append(late, 0)))
		late = nil
	})
	_ = http.Serve(ln, mux)
}

// startFakeStreamServer runs the helper process and returns its base URL.
func startFakeStreamServer(b *testing.B, pace time.Duration) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStreamServer$")
	cmd.Env = append(os.Environ(), envFakeStream+"="+addr, envFakePace+"="+pace.String(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	cores := runtime.NumCPU()
	pin(cmd.Process.Pid, cores-1)
	pin(0, 0)
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatal("the fake server did not start")
	return ""
}

// pin binds a process (0: this one, every thread) to one core, when allowed.
func pin(pid, core int) {
	var set unix.CPUSet
	set.Set(core)
	if pid != 0 {
		_ = unix.SchedSetaffinity(pid, &set)
		return
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = unix.SchedSetaffinity(tid, &set)
		}
	}
}

// benchStreams sends streams requests of n tokens paced at pace at once and
// returns every chunk gap in ms, the tokens received, the client's CPU and its
// peak growth of Go memory in use (memInUse) in bytes.
func benchStreams(b *testing.B, base string, streams, n int) (gaps []float64, tokens int, cpu time.Duration, mem int64) {
	e := &Engine{Target: Target{BaseURL: base, Model: "tiny", Kind: KindLlamaCpp}}
	e.httpClient()
	defer e.closeIdle()
	runtime.GC()
	mem0 := memInUse()
	stop := peakMem()
	ms := make([]*measurement, streams)
	cpu0 := cpuTime()
	var sw sync.WaitGroup
	for i := range ms {
		sw.Go(func() {
			ms[i] = e.do(context.Background(), request{user: "x", maxTokens: n})
		})
	}
	sw.Wait()
	cpu = cpuTime() - cpu0
	peak := stop()
	for _, m := range ms {
		if m.err != nil {
			b.Fatalf("stream failed: %v", m.err)
		}
		tokens += m.completionTokens
		for i := 1; i < len(m.chunks); i++ {
			gaps = append(gaps, float64(m.chunks[i].at-m.chunks[i-1].at)/1e6)
		}
	}
	return gaps, tokens, cpu, peak - mem0
}

// baselineStreams is benchStreams for the plainest reader Go offers: net/http
// with its default transport settings and a bufio.Reader, stamping each "data:"
// line with time.Now and nothing else (no JSON, no budget, no watchdog). It is
// printed beside Typhon's figures so that what Typhon adds shows as a ratio.
func baselineStreams(b *testing.B, base string, streams, n int) (gaps []float64, tokens int, cpu time.Duration, mem int64) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = streams
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	body := fmt.Sprintf(`{"max_tokens":%d}`, n)
	runtime.GC()
	mem0 := memInUse()
	stop := peakMem()
	stamps := make([][]time.Time, streams)
	cpu0 := cpuTime()
	var sw sync.WaitGroup
	for i := range stamps {
		sw.Go(func() {
			resp, err := client.Post(base+"/v1/chat/completions", "application/json", strings.NewReader(body))
			if err != nil {
				b.Errorf("baseline stream: %v", err)
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			for {
				line, err := br.ReadSlice('\n')
				if bytes.HasPrefix(line, []byte("data: {\"choices\":[{\"finish_reason\":null")) {
					stamps[i] = append(stamps[i], time.Now())
				}
				if err != nil {
					return
				}
			}
		})
	}
	sw.Wait()
	cpu = cpuTime() - cpu0
	peak := stop()
	for _, st := range stamps {
		tokens += len(st)
		for i := 1; i < len(st); i++ {
			gaps = append(gaps, float64(st[i].Sub(st[i-1]))/1e6)
		}
	}
	return gaps, tokens, cpu, peak - mem0
}

// peakMem samples the memory this process's Go code holds (memInUse) every
// 50 ms until the returned function is called; that returns the highest sample.
func peakMem() func() int64 {
	var peak int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			peak = max(peak, memInUse())
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	return func() int64 {
		close(stop)
		wg.Wait()
		return peak
	}
}

// memInUse is the bytes of heap objects (live and not yet swept) and goroutine
// stacks. Unlike RSS it does not depend on what earlier runs of the same
// process left mapped: a heap an earlier run grew and this one reuses made RSS
// growth read 0.
func memInUse() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64() + s[1].Value.Uint64())
}

func BenchmarkClientOneStream(b *testing.B) {
	base := startFakeStreamServer(b, 0)
	const n = 200000
	benchStreams(b, base, 1, 1000) // connection and warm caches
	for range b.N {
		r0 := readCalls()
		_, tokens, cpu, _ := benchStreams(b, base, 1, n)
		reads := float64(readCalls()-r0) / float64(tokens)
		perK := cpu.Seconds() * 1000 / float64(tokens) * 1000
		b.ReportMetric(perK, "cpu-ms/1000tok")
		b.ReportMetric(float64(tokens)/cpu.Seconds(), "tok/s/core")
		b.Logf("one stream, %d tokens flushed one by one: client CPU %.2f ms per 1,000 tokens (target 1.5), %.0f tokens per second of CPU, %.2f read calls per token: %s",
			tokens, perK, float64(tokens)/cpu.Seconds(), reads, readRegime(reads))
		r0 = readCalls()
		_, btok, bcpu, _ := baselineStreams(b, base, 1, n)
		breads := float64(readCalls()-r0) / float64(btok)
		bperK := bcpu.Seconds() * 1000 / float64(btok) * 1000
		b.ReportMetric(bperK, "baseline-cpu-ms/1000tok")
		b.Logf("baseline reader (net/http + bufio, a time.Now per line, nothing else): %.2f ms per 1,000 tokens, %.2f read calls per token; Typhon costs %.2fx that",
			bperK, breads, perK/bperK)
		if ccpu, ok := curlStream(b, base, n); ok {
			cperK := ccpu.Seconds() * 1000 / float64(n) * 1000
			b.ReportMetric(cperK, "curl-cpu-ms/1000tok")
			b.Logf("curl to /dev/null, the same stream: %.2f ms per 1,000 tokens; Typhon costs %.2fx that (the target, 1.5 ms against curl's 2.95 ms when it was set, is %.2fx)",
				cperK, perK/cperK, 1.5/2.95)
		}
	}
}

// BenchmarkClientDecode is the client's own work on a stream, without the
// network: the bytes of a 20,000-token stream, as the fake server sends them,
// read from memory through the same reader a request uses (SSE lines, chunk
// JSON, token counting, the stall watch and the budget). What it prints is
// Typhon's processing per token; BenchmarkClientOneStream adds what reading a
// socket costs on this machine (system calls, and a wake-up for each chunk
// when the client keeps up with the server).
func BenchmarkClientDecode(b *testing.B) {
	const n = 20000
	body := benchBody(n)
	e := &Engine{Target: Target{BaseURL: "http://127.0.0.1:1", Model: "tiny", Kind: KindLlamaCpp}}
	runtime.GC()
	cpu0, tokens := cpuTime(), 0
	b.ResetTimer()
	for range b.N {
		m := &measurement{asked: n, start: time.Now(), budget: budgetFor(n)}
		ctx, cancel := context.WithCancelCause(context.Background())
		noAnswer := time.NewTimer(time.Hour)
		e.readBody(ctx, ctx, cancel, bytes.NewReader(body), m, request{maxTokens: n}, noAnswer, time.Hour)
		cancel(nil)
		if m.err != nil || m.completionTokens != n || len(m.chunks) != n {
			b.Fatalf("decoded %d tokens in %d chunks (err %v), want %d", m.completionTokens, len(m.chunks), m.err, n)
		}
		tokens += n
	}
	cpu := cpuTime() - cpu0
	perK := cpu.Seconds() * 1e6 / float64(tokens)
	b.ReportMetric(perK, "cpu-ms/1000tok")
	b.Logf("decoding %d tokens from memory: %.2f ms of CPU per 1,000 tokens, %.0f tokens per second of CPU (%d B per chunk)",
		tokens, perK, float64(tokens)/cpu.Seconds(), len(body)/n)
}

// benchBody is the stream of n tokens the fake server sends, as SSE bytes.
func benchBody(n int) []byte {
	var buf []byte
	for i := range n {
		buf = fmt.Appendf(buf, "data: "+benchChunk+"\n\n", i+1, i)
	}
	buf = append(buf, "data: {\"choices\":[{\"finish_reason\":\"length\",\"index\":0,\"delta\":{}}]}\n\n"...)
	return fmt.Appendf(buf, "data: {\"choices\":[],\"usage\":{\"completion_tokens\":%d,\"prompt_tokens\":81,\"total_tokens\":%d}}\n\ndata: [DONE]\n\n", n, n+81)
}

// readRegime says what a stream's read calls per token tell of its CPU figure.
// A client slower than the fake server finds its reads full (a 4 KiB read holds
// about ten chunks): the figure is its own processing. One that keeps up waits
// for each chunk and pays a wake-up and two or three system calls for it (a
// read, the read that finds nothing, the poll), as curl does: on this machine
// that costs more than decoding the chunk, so a client that decodes faster
// can show a higher figure.
func readRegime(perToken float64) string {
	switch {
	case perToken < 0.15:
		return "the client was behind the server (full reads), so this is its own processing"
	case perToken > 0.4:
		return "the client kept up with the server and woke for most chunks, so this is mostly the wake-ups' system calls"
	}
	return "the client was behind the server at times and woke for single chunks at others"
}

// ClientStreams is how many paced streams BenchmarkClientPaced runs at once.
var ClientStreams = 500

func BenchmarkClientPaced(b *testing.B) {
	const n, pace = 200, 10 * time.Millisecond
	base := startFakeStreamServer(b, pace)
	if s := os.Getenv("TYPHON_BENCH_STREAMS"); s != "" {
		ClientStreams, _ = strconv.Atoi(s)
	}
	benchStreams(b, base, 8, 10)
	for range b.N {
		r0 := readCalls()
		gaps, tokens, cpu, mem := benchStreams(b, base, ClientStreams, n)
		reads := float64(readCalls()-r0) / float64(tokens)
		late := lateness(base)
		p50, p99 := stats.Percentile(gaps, 50), stats.Percentile(gaps, 99)
		perK := cpu.Seconds() * 1000 / float64(tokens) * 1000
		b.ReportMetric(p50, "itl-p50-ms")
		b.ReportMetric(p99, "itl-p99-ms")
		b.ReportMetric(perK, "cpu-ms/1000tok")
		b.ReportMetric(float64(mem)/1024/float64(ClientStreams), "KB/stream")
		b.Logf("%d streams of %d tokens paced at %s: ITL p50 %.2f ms, p99 %.2f ms (true %s; target p99 at most +3 ms); server send lateness p50/p99/max %s ms; client CPU %.2f ms per 1,000 tokens, %.2f read calls per token; Go memory in use +%.1f KB per stream (target 50)",
			ClientStreams, n, pace, p50, p99, pace, late, perK, reads, float64(mem)/1024/float64(ClientStreams))
		r0 = readCalls()
		bgaps, btok, bcpu, bmem := baselineStreams(b, base, ClientStreams, n)
		breads := float64(readCalls()-r0) / float64(btok)
		late = lateness(base)
		b.ReportMetric(stats.Percentile(bgaps, 99), "baseline-itl-p99-ms")
		b.Logf("baseline reader, same load: ITL p50 %.2f ms, p99 %.2f ms; server send lateness p50/p99/max %s ms; client CPU %.2f ms per 1,000 tokens, %.2f read calls per token; Go memory in use +%.1f KB per stream",
			stats.Percentile(bgaps, 50), stats.Percentile(bgaps, 99), late, bcpu.Seconds()*1e6/float64(btok), breads, float64(bmem)/1024/float64(ClientStreams))
	}
}

// lateness is the fake server's send lateness p50/p99/max since the last call.
func lateness(base string) string {
	resp, err := http.Get(base + "/late")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	buf := make([]byte, 128)
	k, _ := resp.Body.Read(buf)
	return strings.TrimSpace(string(buf[:k]))
}

// readCalls is the read system calls this process made so far (those that
// found no data included), -1 when the platform does not say. A client that
// keeps up with a stream makes one or two per chunk and pays a wake-up for
// each; one that falls behind reads several chunks at once.
func readCalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "syscr:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return n
		}
	}
	return -1
}

// curlStream has curl (when installed) read one stream of n tokens to
// /dev/null, pinned to the client's core, and returns its CPU (user + system):
// a fixed reference of what reading the stream costs on this machine, the one
// the targets were set against (curl 2.95 ms per 1,000 tokens when the
// target of 1.5 ms was set).
func curlStream(b *testing.B, base string, n int) (time.Duration, bool) {
	path, err := exec.LookPath("curl")
	if err != nil {
		return 0, false
	}
	cmd := exec.Command(path, "-sS", "-N", "-o", "/dev/null", "-H", "Content-Type: application/json",
		"--data", fmt.Sprintf(`{"max_tokens":%d}`, n), base+"/v1/chat/completions")
	if err := cmd.Start(); err != nil {
		b.Logf("curl: %v", err)
		return 0, false
	}
	pin(cmd.Process.Pid, 0)
	if err := cmd.Wait(); err != nil {
		b.Logf("curl: %v", err)
		return 0, false
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), true
}
