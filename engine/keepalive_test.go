package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// closingServer answers the first request on each connection with keep-alive,
// then reads the next request on that connection and closes it unanswered, as
// llama-server does after a streamed answer.
func closingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
				if req, err := http.ReadRequest(r); err == nil { // the next request on this connection
					io.Copy(io.Discard, req.Body)
				}
			}(c)
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestRequestsSurviveClosedKeepAlive: a POST sent on a kept-alive connection the
// server has closed is resent on a fresh one instead of failing with EOF.
func TestRequestsSurviveClosedKeepAlive(t *testing.T) {
	t.Parallel()
	base := closingServer(t)
	e := &Engine{Target: Target{BaseURL: base}}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for i := 0; i < 3; i++ {
		req, err := e.newRequest(context.Background(), http.MethodPost, "/v1/chat/completions", strings.NewReader(`{"n":1}`))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
		if _, sent := resp.Request.Header["X-Idempotency-Key"]; !sent {
			t.Errorf("request %d lost its replay marker", i)
		}
	}
}
