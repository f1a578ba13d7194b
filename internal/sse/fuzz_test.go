package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReader: any byte stream ends in events and io.EOF or an error, never a
// panic or a loop; an event's data is never larger than MaxEventSize, and no
// more events come than the stream has lines.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		"data: {\"a\":1}\n\n",
		"data: a\ndata: b\n\n: keep-alive\n\nevent: x\nid: 7\ndata: [DONE]\n\n",
		"data: no end",
		"data:x\r\n\r\ndata:y\r\r\n",
		"\n\n\n",
		":\n",
		"data\n\n",
		"data: " + strings.Repeat("x", 2*ReadBufferSize) + "\r\ndata: y\n\nid: " + strings.Repeat("z", ReadBufferSize) + "\ndata: " + strings.Repeat("w", ReadBufferSize+3),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		events := 0
		for {
			ev, err := r.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrEventTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			events++
			if len(ev.Data) > MaxEventSize {
				t.Fatalf("event of %d bytes", len(ev.Data))
			}
			if events > bytes.Count(b, []byte{'\n'})+bytes.Count(b, []byte{'\r'})+1 {
				t.Fatalf("%d events from %d bytes", events, len(b))
			}
		}
	})
}
