package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/typhonbench/typhon"
	"github.com/typhonbench/typhon/schema"
)

// TestUploadRetries: an upload that meets a collector restarting (no answer),
// busy (429) or failing (5xx, a full disk's 507) is sent again after a wait,
// the record kept in memory; one refused for what it is (400, 401, 409, 413)
// is not. Before, one failed attempt lost the record of a pod.
func TestUploadRetries(t *testing.T) {
	t.Parallel()
	res := &typhon.Result{SchemaVersion: schema.Version, RunID: "r1", Status: schema.StatusComplete,
		Mode: schema.ModeQuick, RunAt: time.Now().UTC(), Benchmarks: []schema.Benchmark{}}
	backoff := []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	for _, c := range []struct {
		name      string
		answers   []int // the collector's answers in turn; the last repeats
		wantTries int
		wantOK    bool
	}{
		{"two 503 then stored", []int{503, 503, 201}, 3, true},
		{"busy then already stored", []int{429, 200}, 2, true},
		{"full disk throughout", []int{507}, 4, false},
		{"not a valid record", []int{400}, 1, false},
		{"no token", []int{401}, 1, false},
		{"another record", []int{409}, 1, false},
		{"too large", []int{413}, 1, false},
	} {
		var tries atomic.Int32
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			n := int(tries.Add(1))
			w.WriteHeader(c.answers[min(n, len(c.answers))-1])
		}))
		err := uploadRetrying(t.Context(), ts.URL, res, io.Discard, backoff)
		ts.Close()
		if (err == nil) != c.wantOK || int(tries.Load()) != c.wantTries {
			t.Errorf("%s: %d tries, error %v; want %d tries, ok %v", c.name, tries.Load(), err, c.wantTries, c.wantOK)
		}
	}
	// No collector at all: every try fails to connect, then the error.
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	start := time.Now()
	if err := uploadRetrying(t.Context(), url, res, io.Discard, backoff); err == nil {
		t.Errorf("upload to nothing: no error")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("upload to nothing took %s", d)
	}
}
