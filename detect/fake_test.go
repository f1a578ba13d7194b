package detect

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// recorded is one answers file of testdata/answers: what a server answers to
// each request, written from its documentation or recorded from a real one.
type recorded struct {
	Source  string                    `json:"source"`
	Answers map[string]recordedAnswer `json:"answers"` // "GET /path" or "GET /path?query"
	Default *recordedAnswer           `json:"default"` // any other request; nil: 404
}

type recordedAnswer struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	JSON    json.RawMessage   `json:"json"`
	Text    *string           `json:"text"`
}

func (a recordedAnswer) body() []byte {
	if a.Text != nil {
		return []byte(*a.Text)
	}
	return a.JSON
}

func loadRecorded(t testing.TB, name string) recorded {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "answers", name+".json"))
	if err != nil {
		t.Fatalf("read answers: %v", err)
	}
	var r recorded
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("answers %s: %v", name, err)
	}
	return r
}

func (r recorded) lookup(method, uri string) recordedAnswer {
	if a, ok := r.Answers[method+" "+uri]; ok {
		return a
	}
	if r.Default != nil {
		return *r.Default
	}
	text := "404 page not found"
	return recordedAnswer{Status: http.StatusNotFound, Text: &text}
}

// fakeServer serves recorded answers and counts the requests it gets.
type fakeServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
	auth     []string // Authorization headers seen
}

func serveRecorded(t testing.TB, r recorded) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, req.Method+" "+req.URL.RequestURI())
		f.auth = append(f.auth, req.Header.Get("Authorization"))
		f.mu.Unlock()
		a := r.lookup(req.Method, req.URL.RequestURI())
		for k, v := range a.Headers {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" && a.Text == nil {
			w.Header().Set("Content-Type", "application/json")
		}
		status := a.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write(a.body())
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeServer) authHeaders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...)
}

// mapSource serves recorded answers without a network, for the fuzzer and the
// rule tests.
type mapSource struct{ r recorded }

func (m mapSource) get(_ context.Context, path string) answer { return m.answer("GET", path) }

func (m mapSource) post(_ context.Context, path string, _ []byte) answer {
	return m.answer("POST", path)
}

func (m mapSource) answer(method, path string) answer {
	a := m.r.lookup(method, path)
	h := http.Header{}
	for k, v := range a.Headers {
		h.Set(k, v)
	}
	status := a.Status
	if status == 0 {
		status = http.StatusOK
	}
	return answer{status: status, header: h, body: a.body()}
}

// answerNames lists the files of testdata/answers.
func answerNames(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "answers", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no answers in testdata/answers: %v", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	return names
}
