package engine

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

func TestZZCancelPhases(t *testing.T) {
	slot := newSlotServer(t, 2, 5*time.Millisecond, 40*time.Millisecond)
	u, _ := url.Parse(slot.URL)
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		w.Write([]byte("llamacpp:tokens_predicted_total 5\n"))
	})
	mux.Handle("/", proxy)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, after := range []time.Duration{50 * time.Millisecond, 1 * time.Second, 3200 * time.Millisecond, 3700 * time.Millisecond, 4300 * time.Millisecond, 5 * time.Second} {
		ctx, cancel := context.WithCancel(context.Background())
		var at time.Time
		time.AfterFunc(after, func() { at = time.Now(); cancel() })
		o := LoadOptions{Users: []int{4}, Window: 1 * time.Second, RampUp: 200 * time.Millisecond, Grace: 10 * time.Second, InputTokens: 16, OutputTokens: 40}
		start := time.Now()
		levels, c, err := loadEngine(srv.URL).RunLoad(ctx, o, nil)
		took := time.Since(at)
		if at.IsZero() {
			took = -1
		}
		var e string
		if len(levels) > 0 {
			e = levels[0].Error
		}
		fmt.Printf("cancel after %s: total %s, after-cancel %s, levels %d err=%v c=%v lvlerr=%q\n", after, time.Since(start), took, len(levels), err, c != nil, e)
		cancel()
	}
}
