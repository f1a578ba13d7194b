package engine

import (
	"io"
	"time"
)

// stampReader remembers when the latest read from the network returned data.
// A chunk is stamped with the read that delivered it, not with when it was
// parsed: chunks that came in one read (a buffering proxy, a server that does not
// flush) share one time, and a busy client does not spread them apart. It reads
// the clock once per read, however many chunks the read holds.
type stampReader struct {
	r     io.Reader
	last  time.Time        // the stamp of the latest read (clock)
	real  time.Time        // the same read by time.Now
	clock func() time.Time // nil: time.Now (tests script it)
}

func (s *stampReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.real = time.Now()
		s.last = s.real
		if s.clock != nil {
			s.last = s.clock()
		}
	}
	return n, err
}

func (s *stampReader) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

// at is the time of the latest read that returned data, or now when none has.
func (s *stampReader) at() time.Time {
	if s.last.IsZero() {
		return s.now()
	}
	return s.last
}

// readAt is at by time.Now, whatever the clock: what timers compare against.
func (s *stampReader) readAt() time.Time {
	if s.real.IsZero() {
		return time.Now()
	}
	return s.real
}
