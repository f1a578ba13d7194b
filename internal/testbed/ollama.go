package testbed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
)

// ollamaPrepare creates the model in Ollama (once per Server: OLLAMA_MODELS outlives
// restarts) and, unless NoWarmup, loads it.
func (s *Server) ollamaPrepare(ctx context.Context, client *http.Client) error {
	if !s.created.Load() {
		if err := s.ollamaCreate(ctx, client); err != nil {
			return err
		}
		s.created.Store(true)
	}
	if s.opts.NoWarmup {
		return nil
	}
	// A generate request without a prompt loads the model and returns.
	body, _ := json.Marshal(map[string]any{"model": s.Model, "stream": false})
	code, resp, err := request(ctx, client, http.MethodPost, s.URL+"/api/generate", bytes.NewReader(body), s.opts.StartTimeout)
	if err != nil {
		return fmt.Errorf("load model: %w", err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("load model: %s: %s", http.StatusText(code), bytes.TrimSpace(resp))
	}
	return nil
}

// ollamaCreate uploads the GGUF file as a blob and creates the model from it, with
// num_thread set to Options.Threads.
func (s *Server) ollamaCreate(ctx context.Context, client *http.Client) error {
	digest, err := fileDigest(s.ModelPath)
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	f, err := os.Open(s.ModelPath)
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	code, resp, err := request(ctx, client, http.MethodPost, s.URL+"/api/blobs/"+digest, f, s.opts.StartTimeout)
	if err != nil {
		return fmt.Errorf("upload model: %w", err)
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return fmt.Errorf("upload model: %s: %s", http.StatusText(code), bytes.TrimSpace(resp))
	}
	body, _ := json.Marshal(map[string]any{
		"model":      s.Model,
		"files":      map[string]string{filepath.Base(s.ModelPath): digest},
		"parameters": map[string]any{"num_thread": s.opts.Threads},
		"stream":     false,
	})
	code, resp, err = request(ctx, client, http.MethodPost, s.URL+"/api/create", bytes.NewReader(body), s.opts.StartTimeout)
	if err != nil {
		return fmt.Errorf("create model: %w", err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("create model: %s: %s", http.StatusText(code), bytes.TrimSpace(resp))
	}
	return nil
}

// fileDigest returns "sha256:<hex>" of a file.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
