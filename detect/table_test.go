package detect

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the output:\n--- want\n%s--- got\n%s", path, want, got)
	}
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		servers []Server
	}{
		{"table", []Server{
			{Kind: KindLlamaCpp, Version: "b11669-Debian", BaseURL: "http://127.0.0.1:8080", Port: 8080,
				Models: []string{"tiny"}, LoadedModel: "tiny", CtxSize: 2048, Slots: 2},
			{Kind: KindOllama, Version: "0.17.4", BaseURL: "http://127.0.0.1:11434", Port: 11434,
				Models: []string{"tiny:latest", "qwen3:8b"}, LoadedModel: "tiny:latest", CtxSize: 4096, VRAMShare: new(0.75)},
			{Kind: KindOllama, Version: "0.17.4", BaseURL: "http://[::1]:11435", Port: 11435, Models: []string{"qwen3:8b"}},
			{Kind: KindLlamaCpp, BaseURL: "http://127.0.0.1:8081", Port: 8081, Loading: true},
			{Kind: KindOpenAI, BaseURL: "https://gpu.example.internal", Port: 443, Models: []string{"a", "b", "c"}},
			{Kind: KindLlamaCpp, BaseURL: "http://127.0.0.1:8082", Port: 8082, Settings: map[string]string{"auth": "API key required"}},
			{Kind: KindVLLM, Version: "0.8.5", BaseURL: "http://127.0.0.1:8000", Port: 8000, Models: []string{"x"},
				LoadedModel: "an-evil\x1b[31mmodel\twith\ncontrol characters and a name much longer than the column allows", CtxSize: 32768},
		}},
		{"table_empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := WriteTable(&buf, tt.servers); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteTableError(t *testing.T) {
	t.Parallel()
	if err := WriteTable(failWriter{}, []Server{{Kind: KindOllama}}); err == nil {
		t.Error("WriteTable to a failing writer returned nil")
	}
	if err := WriteTable(failWriter{}, nil); err == nil {
		t.Error("WriteTable(nil) to a failing writer returned nil")
	}
}
