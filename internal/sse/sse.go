// Package sse reads a text/event-stream (Server-Sent Events) as the OpenAI-style
// streaming APIs send it: events of "data:" lines separated by blank lines.
//
// It is small on purpose: it does not reconnect and it ignores "retry:". Each call
// to Next returns as soon as an event's terminating blank line has been read, so a
// caller that stamps the time after Next sees when the event arrived.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxEventSize is the largest event Reader accepts (all its lines together).
const MaxEventSize = 8 << 20

// ReadBufferSize is a Reader's buffer: a chunk of a token stream (a few hundred
// bytes) fits in it; a longer line is read in pieces, gathered in a second
// buffer the Reader keeps. Small, so that a thousand streams at once stay light.
const ReadBufferSize = 1 << 10

// ErrEventTooLarge is returned when an event exceeds MaxEventSize.
var ErrEventTooLarge = errors.New("sse: event too large")

// Event is one dispatched event.
type Event struct {
	Event string // the "event:" field; "" means the default "message"
	ID    string // the "id:" field
	Data  []byte // the "data:" lines joined by "\n"; valid until the next call to Next
}

// Reader reads events from a stream.
type Reader struct {
	r    *bufio.Reader
	long []byte // a line longer than the buffer, gathered
	data bytes.Buffer
	ev   Event
	// Lines counts the lines read so far, comments included.
	Lines int
}

// NewReader returns a Reader that reads from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, ReadBufferSize)}
}

// Next returns the next event. At the end of the stream it returns io.EOF; a stream
// that ends inside an event returns that event first when it has data (as browsers
// do not, but servers that omit the last blank line exist), then io.EOF. A read error
// is returned as is.
func (r *Reader) Next() (Event, error) {
	r.data.Reset()
	r.ev = Event{}
	haveData := false
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && haveData {
				r.ev.Data = r.data.Bytes()
				return r.ev, nil
			}
			return Event{}, err
		}
		r.Lines++
		if len(line) == 0 {
			if !haveData {
				// A blank line with no data resets the event (spec), nothing to dispatch.
				r.ev = Event{}
				continue
			}
			r.ev.Data = r.data.Bytes()
			return r.ev, nil
		}
		if line[0] == ':' {
			continue // comment (keep-alive)
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if haveData {
				r.data.WriteByte('\n')
			}
			if r.data.Len()+len(value) > MaxEventSize {
				return Event{}, fmt.Errorf("%w (over %d bytes)", ErrEventTooLarge, MaxEventSize)
			}
			r.data.Write(value)
			haveData = true
		case "event":
			r.ev.Event = string(value)
		case "id":
			r.ev.ID = string(value)
		}
	}
}

// readLine reads one line without its terminator (\n, \r\n or \r followed by \n);
// the line is valid until the next call. A line longer than the buffer is
// gathered in r.long, which is kept for the next one.
func (r *Reader) readLine() ([]byte, error) {
	long := false
	buf := r.long[:0]
	for {
		frag, err := r.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			buf, long = append(buf, frag...), true
			r.long = buf[:0]
			if len(buf) > MaxEventSize {
				return nil, fmt.Errorf("%w (a line over %d bytes)", ErrEventTooLarge, MaxEventSize)
			}
			continue
		}
		if err != nil {
			if len(frag) > 0 || long {
				// The last line of a stream without a newline.
				buf = append(buf, frag...)
				r.long = buf[:0]
				if errors.Is(err, io.EOF) {
					return bytes.TrimRight(buf, "\r"), nil
				}
			}
			return nil, err
		}
		if long {
			buf = append(buf, frag...)
			r.long = buf[:0]
			frag = buf
		}
		frag = frag[:len(frag)-1]
		if n := len(frag); n > 0 && frag[n-1] == '\r' {
			frag = frag[:n-1]
		}
		return frag, nil
	}
}
