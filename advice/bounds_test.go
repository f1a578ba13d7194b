package advice

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// TestAskBoundsTheRequest: a record of 3,000 tests with long errors (about 30 MB, as large as a record file may be) makes
// a request of at most MaxSummaryBytes of summary, which still holds the first
// figures.
func TestAskBoundsTheRequest(t *testing.T) {
	t.Parallel()
	f := &fakeLLM{handle: stream("ok")}
	srv := httptest.NewServer(f)
	defer srv.Close()
	res := record(t)
	res.Error = strings.Repeat("x", 1<<20)
	for i := range 3000 {
		res.Benchmarks = append(res.Benchmarks, schema.Benchmark{TestID: fmt.Sprintf("ctx_sweep_%d", 10000+i),
			Category: schema.CategoryContextSweep, CtxSize: 10000 + i, NRuns: 1,
			Runs: []schema.RunSample{{Error: strings.Repeat("e", 10000), ErrorKind: "http_500"}}})
	}
	if _, err := Ask(t.Context(), res, Target{BaseURL: srv.URL}, nil); err != nil {
		t.Fatal(err)
	}
	body := f.bodies[0]
	if len(body) > MaxSummaryBytes+8<<10 {
		t.Errorf("request of %d bytes, want at most %d of summary and the prompts", len(body), MaxSummaryBytes)
	}
	if !strings.Contains(body, "123.456") {
		t.Errorf("the cut summary lost the baseline figure")
	}
	t.Logf("request %d bytes", len(body))
}

// TestAskOddAnswers: answers that are not a chat stream end soon, each with
// an error that says what came back.
func TestAskOddAnswers(t *testing.T) {
	t.Parallel()
	forever := func(line string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for r.Context().Err() == nil {
				if _, err := fmt.Fprint(w, line); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	}
	cases := []struct {
		name   string
		handle func(w http.ResponseWriter, r *http.Request)
		answer string // a success with this answer; else want in the error
		want   string
	}{
		{"endless empty deltas", forever("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"), "", "bytes"},
		{"endless comments", forever(": keep-alive\n"), "", "bytes"},
		{"HTML page", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body><h1>Welcome to nginx</h1></body></html>")
		}, "", "text/html"},
		{"JSON, not a stream", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"choices":[{"message":{"role":"assistant","content":"Use -fa on."}}]}`)
		}, "Use -fa on.", ""},
		{"JSON error with 200", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"error":{"message":"model is loading"}}`)
		}, "", "model is loading"},
		{"refusal", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{\"refusal\":\"I cannot help with that.\"}}]}\n\ndata: [DONE]\n\n")
		}, "", "refused: I cannot help"},
		{"content filter", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"content_filter\"}]}\n\ndata: [DONE]\n\n")
		}, "", "content_filter"},
		{"terminal escapes", stream("\x1b]52;c;ZWNobyBoaQ==\x07Use \x1b[2J-fa\u009b on\r."), "]52;c;ZWNobyBoaQ==Use [2J-fa on.", ""},
		{"escapes in an error", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "bad\x1b]0;pwned\x07 request", http.StatusBadRequest)
		}, "", "bad]0;pwned request"},
		{"not JSON", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: <b>oops</b>\n\n")
		}, "", "not a chat completion chunk"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(&fakeLLM{handle: c.handle})
			defer srv.Close()
			start := time.Now()
			a, err := Ask(t.Context(), record(t), Target{BaseURL: srv.URL, Timeout: 30 * time.Second, MaxAnswerBytes: 1000}, nil)
			d := time.Since(start)
			switch {
			case c.answer != "" && (err != nil || a != c.answer):
				t.Errorf("answer %q, err %v; want %q", a, err, c.answer)
			case c.answer == "" && (!errors.Is(err, ErrServer) || !strings.Contains(err.Error(), c.want)):
				t.Errorf("err %v; want ErrServer saying %q", err, c.want)
			case d > 10*time.Second:
				t.Errorf("took %v", d)
			}
			t.Logf("%v: %v", d.Round(time.Millisecond), err)
		})
	}
}

// TestAskErrorsHideCredentials: a URL with a user's password or a key in its
// query is not quoted in an error, and a timeout says it was one.
func TestAskErrorsHideCredentials(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(&fakeLLM{handle: func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}})
	defer srv.Close()
	slow := httptest.NewServer(&fakeLLM{handle: func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }})
	defer slow.Close()
	u := strings.Replace(srv.URL, "http://", "http://bob:pa55word@", 1)
	_, err := Ask(t.Context(), record(t), Target{BaseURL: u}, nil)
	if err == nil || strings.Contains(err.Error(), "pa55word") || !strings.Contains(err.Error(), "500") {
		t.Errorf("err %v: want HTTP 500 without the password", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = Ask(t.Context(), record(t), Target{BaseURL: strings.Replace(closed.URL, "http://", "http://bob:pa55word@", 1)}, nil)
	if err == nil || strings.Contains(err.Error(), "pa55word") {
		t.Errorf("err %v: want an error without the password", err)
	}
	_, err = Ask(t.Context(), record(t), Target{BaseURL: strings.Replace(slow.URL, "http://", "http://bob:pa55word@", 1),
		Timeout: 300 * time.Millisecond}, nil)
	if err == nil || strings.Contains(err.Error(), "pa55word") || !strings.Contains(err.Error(), "no answer within 300ms") ||
		!errors.Is(err, ErrServer) {
		t.Errorf("err %v: want ErrServer, no answer within 300ms, no password", err)
	}
}

// TestAskBaseURLWithV1: an OpenAI base URL given with its /v1 (as OpenAI
// clients take it) asks /v1/chat/completions, not /v1/v1/...
func TestAskBaseURLWithV1(t *testing.T) {
	t.Parallel()
	f := &fakeLLM{handle: stream("ok")}
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, u := range []string{srv.URL + "/v1", srv.URL + "/v1/"} {
		if a, err := Ask(t.Context(), record(t), Target{BaseURL: u}, nil); err != nil || a != "ok" {
			t.Errorf("%s: answer %q, err %v", u, a, err)
		}
	}
}
