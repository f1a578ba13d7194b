package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// Options configure a server. Zero fields take the defaults.
type Options struct {
	CtxSize   int    // context size: llama-server -c, OLLAMA_CONTEXT_LENGTH; default DefaultCtxSize
	Parallel  int    // parallel slots: llama-server -np, OLLAMA_NUM_PARALLEL; default DefaultParallel
	Threads   int    // CPU threads: llama-server -t, Ollama's num_thread parameter; default DefaultThreads
	Port      int    // loopback port; 0 picks a free one
	ModelPath string // GGUF model to serve; default the tiny model of the cache directory
	ModelName string // name to request the model by (llama-server --alias); default DefaultModelName

	ExtraArgs []string // more llama-server arguments (ignored for Ollama)
	Env       []string // more environment for the server process, "KEY=value" (wins over ours)

	Dir          string        // cache directory; default DefaultDir()
	StartTimeout time.Duration // how long to wait until the server and model are ready; default DefaultStartTimeout
	StopGrace    time.Duration // how long Stop waits after SIGTERM before SIGKILL; default DefaultStopGrace
	NoWarmup     bool          // Ollama: return before the model is loaded (the first request loads it)

	Logger *slog.Logger // start and stop events; nil discards them
}

func (o Options) withDefaults() Options {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&o.CtxSize, DefaultCtxSize)
	def(&o.Parallel, DefaultParallel)
	def(&o.Threads, DefaultThreads)
	if o.ModelName == "" {
		o.ModelName = DefaultModelName
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Server is a running (or stopped) server process. Its methods are safe for
// concurrent use.
type Server struct {
	Kind      schema.Kind // KindLlama or KindOllama
	URL       string      // e.g. "http://127.0.0.1:41234"
	Port      int
	Model     string // the model name to send in requests
	ModelPath string // the GGUF file served, as a host path

	opts      Options
	paths     Paths
	tmp       string // temporary directory: log, Ollama's home and models
	logPath   string
	rootModel string      // llama-server: the model's path inside the root
	rootTmp   string      // llama-server: host path of the root's temporary directory for us
	created   atomic.Bool // Ollama: the model exists in OLLAMA_MODELS

	life sync.Mutex // held while starting or stopping the process

	mu     sync.Mutex // guards the fields below
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited (it is reaped by stopProcess)
	exit   error         // how the last process ended (cmd.Wait's result)
	closed bool
}

// Start starts a server of kind (KindLlama or KindOllama) and waits until it answers
// and its model is ready. The server outlives ctx, which bounds only the start; call
// Close when done. An error wraps ErrNotProvisioned when the test bed is missing, and
// holds the end of the server's log when the server failed to start.
func Start(ctx context.Context, kind schema.Kind, opts Options) (*Server, error) {
	opts = opts.withDefaults()
	paths := Locate(opts.Dir)
	if err := paths.check(kind, opts.ModelPath); err != nil {
		return nil, err
	}
	model := opts.ModelPath
	if model == "" {
		model = paths.Model
	}
	model, err := filepath.Abs(model)
	if err != nil {
		return nil, fmt.Errorf("testbed: model path: %w", err)
	}
	if st, err := os.Stat(model); err != nil {
		return nil, fmt.Errorf("testbed: model: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("testbed: model %s is not a regular file", model)
	}
	s := &Server{
		Kind:      kind,
		Model:     opts.ModelName,
		ModelPath: model,
		opts:      opts,
		paths:     paths,
	}
	// Temporary directories left by killed test binaries go first.
	removeOrphans(filepath.Join(os.TempDir(), "typhon-testbed-*"))
	removeOrphans(filepath.Join(paths.LlamaRoot, "tmp", "typhon-*"))
	if s.tmp, err = os.MkdirTemp("", "typhon-testbed-*"); err != nil {
		return nil, fmt.Errorf("testbed: %w", err)
	}
	if err := markOwner(s.tmp); err != nil {
		s.removeFiles()
		return nil, fmt.Errorf("testbed: %w", err)
	}
	s.logPath = filepath.Join(s.tmp, "server.log")
	if kind == KindLlama {
		if err := s.linkIntoRoot(); err != nil {
			s.removeFiles()
			return nil, err
		}
	}
	// A port picked here may be taken by someone else before the server binds it:
	// pick another and try again.
	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				s.removeFiles()
				return nil, err
			}
		}
		s.setPort(port)
		s.life.Lock()
		err = s.start(ctx)
		s.life.Unlock()
		if err == nil {
			return s, nil
		}
		if opts.Port != 0 || attempt == 3 || !errors.Is(err, errPortInUse) {
			s.removeFiles()
			return nil, err
		}
		opts.Logger.Warn("testbed: port taken, trying another", "kind", kind, "port", port)
	}
}

var errPortInUse = errors.New("port in use")

func (s *Server) setPort(port int) {
	s.Port = port
	s.URL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testbed: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// linkIntoRoot makes the model visible inside the llama-server root: a hard link
// when the file system allows, else a copy.
func (s *Server) linkIntoRoot() error {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	name := "typhon-" + hex.EncodeToString(b[:])
	s.rootTmp = filepath.Join(s.paths.LlamaRoot, "tmp", name)
	if err := os.MkdirAll(s.rootTmp, 0o755); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	if err := markOwner(s.rootTmp); err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	base := filepath.Base(s.ModelPath)
	dst := filepath.Join(s.rootTmp, base)
	if err := os.Link(s.ModelPath, dst); err != nil {
		if err := copyFile(dst, s.ModelPath); err != nil {
			return fmt.Errorf("testbed: copy model into the llama-server root: %w", err)
		}
	}
	s.rootModel = "/tmp/" + name + "/" + base
	return nil
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// command builds the server's command line and environment.
func (s *Server) command() *exec.Cmd {
	o := s.opts
	var cmd *exec.Cmd
	switch s.Kind {
	case KindLlama:
		chroot, err := exec.LookPath("chroot")
		if err != nil {
			chroot = "/usr/sbin/chroot"
		}
		args := []string{s.paths.LlamaRoot, "/usr/bin/llama-server",
			"-m", s.rootModel, "--alias", s.Model,
			"--host", "127.0.0.1", "--port", strconv.Itoa(s.Port),
			"-c", strconv.Itoa(o.CtxSize), "-np", strconv.Itoa(o.Parallel), "-t", strconv.Itoa(o.Threads)}
		cmd = exec.Command(chroot, append(args, o.ExtraArgs...)...)
		cmd.Env = os.Environ()
	case KindOllama:
		cmd = exec.Command(s.paths.Ollama, "serve")
		cmd.Env = append(withoutOllamaEnv(os.Environ()),
			"HOME="+filepath.Join(s.tmp, "home"),
			"OLLAMA_HOST="+net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)),
			"OLLAMA_MODELS="+filepath.Join(s.tmp, "models"),
			"OLLAMA_NUM_PARALLEL="+strconv.Itoa(o.Parallel),
			"OLLAMA_CONTEXT_LENGTH="+strconv.Itoa(o.CtxSize),
			"OLLAMA_KEEP_ALIVE=24h",
		)
	}
	cmd.Env = append(cmd.Env, o.Env...)
	setProcAttr(cmd)
	return cmd
}

// withoutOllamaEnv drops the caller's OLLAMA_* variables, which would change the
// server under test.
func withoutOllamaEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, "OLLAMA_") {
			out = append(out, e)
		}
	}
	return out
}

// start starts the process on s.Port and waits until it is ready; on failure the
// process is gone when it returns.
func (s *Server) start(ctx context.Context) error {
	if s.Kind == KindOllama {
		for _, d := range []string{"home", "models"} {
			if err := os.MkdirAll(filepath.Join(s.tmp, d), 0o755); err != nil {
				return fmt.Errorf("testbed: %w", err)
			}
		}
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testbed: %w", err)
	}
	var logStart int64
	if st, err := logf.Stat(); err == nil {
		logStart = st.Size()
	}
	cmd := s.command()
	fmt.Fprintf(logf, "--- testbed: %s\n", strings.Join(cmd.Args, " "))
	// A file, not a pipe: Wait must not wait for children (Ollama's runners) that
	// inherit the output.
	cmd.Stdout, cmd.Stderr = logf, logf
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return fmt.Errorf("testbed: start %s: %w", s.Kind, err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	// done closes when the process exits; stopProcess reaps it.
	go func() {
		waitExited(cmd.Process.Pid)
		close(done)
	}()
	s.opts.Logger.Info("testbed: started", "kind", s.Kind, "url", s.URL, "pid", cmd.Process.Pid)

	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	if err := s.waitReady(ctx, done); err != nil {
		s.stopProcess(syscall.SIGKILL, 0)
		if errors.Is(err, errExited) {
			s.mu.Lock()
			if s.exit != nil {
				err = fmt.Errorf("%w: %w", err, s.exit)
			}
			s.mu.Unlock()
		}
		err = fmt.Errorf("testbed: %s on port %d: %w", s.Kind, s.Port, err)
		if l := s.Log(); int64(len(l)) >= logStart && (strings.Contains(l[logStart:], "address already in use") || strings.Contains(l[logStart:], "couldn't bind")) {
			err = fmt.Errorf("%w (%w)", err, errPortInUse)
		}
		return fmt.Errorf("%w\n--- end of the server log:\n%s", err, tail(s.Log(), 4000))
	}
	s.opts.Logger.Info("testbed: ready", "kind", s.Kind, "url", s.URL)
	return nil
}

// waitReady polls the server until it and its model are ready, the process exits, or
// ctx ends.
func (s *Server) waitReady(ctx context.Context, done <-chan struct{}) error {
	// No connection reuse: llama-server closes connections it said it would keep.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	ready := s.llamaHealthy
	if s.Kind == KindOllama {
		ready = s.ollamaUp
	}
	pid := s.PID()
	delay := 20 * time.Millisecond
	for {
		// The answer must come from our process, not from a server that held the
		// port before us (ours then exits: address in use).
		if ready(ctx, client) && listensOn(pid, s.Port) {
			break
		}
		select {
		case <-done:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 250*time.Millisecond)
	}
	if s.Kind != KindOllama {
		return nil
	}
	// Ollama: create the model once, then load it.
	errc := make(chan error, 1)
	go func() { errc <- s.ollamaPrepare(ctx, client) }()
	select {
	case err := <-errc:
		return err
	case <-done:
		return errExited
	}
}

var errExited = errors.New("server exited during start-up")

// llamaHealthy reports whether llama-server's /health says ok (it answers 503 while
// the model loads).
func (s *Server) llamaHealthy(ctx context.Context, client *http.Client) bool {
	code, _, err := request(ctx, client, http.MethodGet, s.URL+"/health", nil, 2*time.Second)
	return err == nil && code == http.StatusOK
}

// ollamaUp reports whether Ollama answers its root endpoint.
func (s *Server) ollamaUp(ctx context.Context, client *http.Client) bool {
	code, body, err := request(ctx, client, http.MethodGet, s.URL+"/", nil, 2*time.Second)
	return err == nil && code == http.StatusOK && bytes.Contains(body, []byte("Ollama is running"))
}

// request does one HTTP request with its own timeout and returns status and body.
func request(ctx context.Context, client *http.Client, method, url string, body io.Reader, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// Log returns the server's output so far (all starts), or an error message.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	return string(b)
}

// tail returns about the last n bytes of a server log, starting at a line, without
// the list of routes that Ollama's web framework prints at start.
func tail(s string, n int) string {
	if strings.Contains(s, "[GIN-debug]") {
		lines := strings.SplitAfter(s, "\n")
		kept := lines[:0]
		for _, l := range lines {
			if !strings.HasPrefix(l, "[GIN-debug]") {
				kept = append(kept, l)
			}
		}
		s = strings.Join(kept, "")
	}
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "[...]\n" + s
}

// PID returns the process id of the running server (for llama-server, chroot has
// become llama-server), or 0 when it is not running.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || isClosed(s.done) {
		return 0
	}
	return s.cmd.Process.Pid
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool { return s.PID() != 0 }

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Stop stops the server: SIGTERM to its process group (and any descendant that left
// it), SIGKILL after the grace period. It returns when all of them have exited. A
// stopped server can be started again with Restart.
func (s *Server) Stop() error {
	s.life.Lock()
	defer s.life.Unlock()
	return s.stopProcess(syscall.SIGTERM, s.opts.StopGrace)
}

// Kill kills the server and its children with SIGKILL, as a crash would, and returns
// when they have exited.
func (s *Server) Kill() error {
	s.life.Lock()
	defer s.life.Unlock()
	return s.stopProcess(syscall.SIGKILL, 0)
}

// Restart stops the server if it runs and starts it again on the same port with the
// same options, waiting until it is ready.
func (s *Server) Restart(ctx context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return errors.New("testbed: restart of a closed server")
	}
	if err := s.stopProcess(syscall.SIGTERM, s.opts.StopGrace); err != nil {
		return err
	}
	var err error
	// The port may need a moment to be free again.
	for attempt := 1; attempt <= 5; attempt++ {
		if err = s.start(ctx); err == nil || !errors.Is(err, errPortInUse) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testbed: restart: %w", ctx.Err())
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
	return err
}

// Close stops the server and removes its temporary files. It is safe to call twice.
func (s *Server) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	err := s.stopProcess(syscall.SIGTERM, s.opts.StopGrace)
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if !already {
		s.removeFiles()
	}
	return err
}

func (s *Server) removeFiles() {
	if s.rootTmp != "" {
		os.RemoveAll(s.rootTmp)
	}
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
	}
}

// stopProcess signals the process group and the descendants of the server with sig,
// waits up to grace, then SIGKILLs whatever is left and waits for it. s.life is held.
func (s *Server) stopProcess(sig syscall.Signal, grace time.Duration) error {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	pid := cmd.Process.Pid
	// The leader is our child and its pid names the group: neither number is reused
	// while the leader is unreaped or any member lives. Descendants that left the
	// group are remembered with their start times, so a reused pid is not signalled.
	victims := descendants(pid)
	signalAll(pid, victims, sig)
	if sig != syscall.SIGKILL {
		select {
		case <-done:
		case <-time.After(grace):
			s.opts.Logger.Warn("testbed: server ignored SIGTERM, killing it", "kind", s.Kind, "pid", pid)
		}
	}
	signalAll(pid, victims, syscall.SIGKILL)
	<-done
	exit := cmd.Wait() // reap
	s.mu.Lock()
	s.cmd, s.done, s.exit = nil, nil, exit
	s.mu.Unlock()
	// Children that outlived the leader.
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := alive(pid, victims)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testbed: %s: processes %v still alive after SIGKILL", s.Kind, left)
		}
		signalAll(pid, left, syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
	}
	s.opts.Logger.Info("testbed: stopped", "kind", s.Kind, "pid", pid)
	return nil
}
