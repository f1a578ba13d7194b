package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/schema"
)

// TestUploadNoRedirect: a collector that redirects the upload (to another port
// of the same host, where net/http would send the bearer token and the record
// along) is not followed; the error names the redirect and the other server
// sees nothing.
func TestUploadNoRedirect(t *testing.T) {
	t.Setenv(envUploadToken, "upload-secret-7f3a")
	res := &typhon.Result{SchemaVersion: schema.Version, RunID: "r1", Status: schema.StatusComplete,
		Mode: schema.ModeQuick, RunAt: time.Now().UTC(), Benchmarks: []schema.Benchmark{}}
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			dst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got = append(got, r.Header.Get("Authorization")+" "+string(b[:min(len(b), 40)]))
				mu.Unlock()
				w.WriteHeader(http.StatusCreated)
			}))
			defer dst.Close()
			src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, dst.URL+r.URL.Path, code)
			}))
			defer src.Close()
			err := uploadRecord(t.Context(), src.URL, res, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "redirect") {
				t.Errorf("upload: %v, want an error naming the redirect", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 0 {
				t.Errorf("the redirect was followed: %q", got)
			}
		})
	}
}
