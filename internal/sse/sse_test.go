package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

type ev struct {
	Event, ID, Data string
}

func readAll(t *testing.T, r io.Reader) ([]ev, error) {
	t.Helper()
	sr := NewReader(r)
	var got []ev
	for {
		e, err := sr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return got, nil
			}
			return got, err
		}
		got = append(got, ev{e.Event, e.ID, string(e.Data)})
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100<<10)
	tests := []struct {
		name string
		in   string
		want []ev
	}{
		{"empty", "", nil},
		{"one event", "data: {\"a\":1}\n\n", []ev{{Data: `{"a":1}`}}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []ev{{Data: "a"}, {Data: "b"}}},
		{"no space after colon", "data:a\n\n", []ev{{Data: "a"}}},
		// A bare CR ends a line too (the SSE specification).
		{"bare cr", "data: a\r\rdata: b\r\r", []ev{{Data: "a"}, {Data: "b"}}},
		{"bare cr, no space, comments", ":\r\rdata:a\rdata:b\r\r: ping\r\rdata: [DONE]\r", []ev{{Data: "a\nb"}, {Data: "[DONE]"}}},
		{"cr, lf and crlf mixed", "data: a\r\ndata: b\r\n\rdata: c\n\r\n", []ev{{Data: "a\nb"}, {Data: "c"}}},
		{"long line ended by a bare cr", "data: " + long + "\r\r", []ev{{Data: long}}},
		{"multi-line data", "data: a\ndata: b\n\n", []ev{{Data: "a\nb"}}},
		{"comments and keepalives", ": ping\n\n: ping\ndata: a\n\n", []ev{{Data: "a"}}},
		{"event and id", "event: error\nid: 7\ndata: boom\n\n", []ev{{Event: "error", ID: "7", Data: "boom"}}},
		{"blank lines between", "\n\n\ndata: a\n\n\n\ndata: b\n\n", []ev{{Data: "a"}, {Data: "b"}}},
		{"last event without blank line", "data: a\n\ndata: [DONE]\n", []ev{{Data: "a"}, {Data: "[DONE]"}}},
		{"last line without newline", "data: a\n\ndata: [DONE]", []ev{{Data: "a"}, {Data: "[DONE]"}}},
		{"unknown field ignored", "retry: 100\nfoo\ndata: a\n\n", []ev{{Data: "a"}}},
		{"line longer than the buffer", "data: " + long + "\n\n", []ev{{Data: long}}},
		{"event without data is dropped", "event: x\n\ndata: a\n\n", []ev{{Data: "a"}}},
		// Long lines are gathered in a buffer the Reader reuses: one must never
		// show through in the next.
		{"long lines one after another", "data: " + strings.Repeat("p", 3000) + "\r\ndata: " + strings.Repeat("q", 1500) +
			"\n\nid: " + strings.Repeat("i", 2000) + "\ndata: s\n\ndata: " + strings.Repeat("r", 1100),
			[]ev{{Data: strings.Repeat("p", 3000) + "\n" + strings.Repeat("q", 1500)}, {ID: strings.Repeat("i", 2000), Data: "s"}, {Data: strings.Repeat("r", 1100)}}},
		{"lines about the buffer's size", "data: " + strings.Repeat("a", ReadBufferSize-7) + "\n\ndata: " + strings.Repeat("b", ReadBufferSize-6) +
			"\r\n\r\ndata: " + strings.Repeat("c", ReadBufferSize) + "\n\n",
			[]ev{{Data: strings.Repeat("a", ReadBufferSize-7)}, {Data: strings.Repeat("b", ReadBufferSize-6)}, {Data: strings.Repeat("c", ReadBufferSize)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, mode := range []string{"whole", "one byte at a time"} {
				var r io.Reader = strings.NewReader(tc.in)
				if mode != "whole" {
					r = iotest.OneByteReader(r)
				}
				got, err := readAll(t, r)
				if err != nil {
					t.Fatalf("%s: error %v", mode, err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("%s: events (-want +got):\n%s", mode, diff)
				}
			}
		})
	}
}

// TestReaderBareCRDispatch: an event ended by bare CRs is returned as soon as
// its blank line is read, without waiting for a byte that may follow a CR.
func TestReaderBareCRDispatch(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	got := make(chan string, 1)
	go func() {
		e, err := NewReader(pr).Next()
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(e.Data)
	}()
	if _, err := pw.Write([]byte("data: a\r\r")); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d != "a" {
			t.Fatalf("event %q, want \"a\"", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the event ended by CR CR was not returned before more data came")
	}
}

func TestReaderError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom))
	got, err := readAll(t, r)
	if !errors.Is(err, boom) {
		t.Fatalf("error = %v, want %v", err, boom)
	}
	if diff := cmp.Diff([]ev{{Data: "a"}}, got); diff != "" {
		t.Errorf("events before the error (-want +got):\n%s", diff)
	}
}

func TestReaderTooLarge(t *testing.T) {
	t.Parallel()
	in := strings.Repeat("data: "+strings.Repeat("y", 1<<20)+"\n", 9) + "\n"
	_, err := readAll(t, strings.NewReader(in))
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("error = %v, want ErrEventTooLarge", err)
	}
}
