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
	// afterCR: the last line ended with \r; a \n right after it belongs to it.
	afterCR bool
	data    bytes.Buffer
	ev      Event
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

// readLine reads one line without its terminator (\n, \r\n or a bare \r, as the
// SSE specification allows); the line is valid until the next call. A line
// ended by \r returns at once: the \n that may follow it is skipped on the next
// call, so an event ended by bare CRs is not held back waiting for a byte. A
// line longer than the buffer is gathered in r.long, which is kept for the next
// one.
func (r *Reader) readLine() ([]byte, error) {
	if r.afterCR {
		r.afterCR = false
		if b, err := r.r.Peek(1); err == nil && b[0] == '\n' {
			_, _ = r.r.Discard(1)
		}
	}
	long := false
	buf := r.long[:0]
	for {
		b, err := r.r.Peek(max(r.r.Buffered(), 1))
		if len(b) == 0 {
			if long && errors.Is(err, io.EOF) {
				// The last line of a stream without a newline.
				r.long = buf[:0]
				return buf, nil
			}
			return nil, err
		}
		i := lineEnd(b)
		if i < 0 {
			buf, long = append(buf, b...), true
			r.long = buf[:0]
			_, _ = r.r.Discard(len(b))
			if len(buf) > MaxEventSize {
				return nil, fmt.Errorf("%w (a line over %d bytes)", ErrEventTooLarge, MaxEventSize)
			}
			continue
		}
		line := b[:i]
		r.afterCR = b[i] == '\r'
		if long {
			buf = append(buf, line...)
			r.long = buf[:0]
			line = buf
		}
		_, _ = r.r.Discard(i + 1)
		return line, nil
	}
}

// lineEnd is the index of the first \r or \n in b, -1 when there is none. Two
// scans by IndexByte (vectorised) cost less than one by IndexAny, which goes
// byte by byte: this runs once per line of every stream.
func lineEnd(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	head := b
	if i >= 0 {
		head = b[:i]
	}
	if j := bytes.IndexByte(head, '\r'); j >= 0 {
		return j
	}
	return i
}
