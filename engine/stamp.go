package engine

import (
	"context"
	"io"
	"net"
	"sync/atomic"
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
	// conn, when known, is the connection the body comes from: a read is
	// stamped with the network read that brought its bytes (one not before
	// since, the request's start).
	conn  *stampConn
	since time.Time
}

func (s *stampReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.real = connRead(s.conn, s.since)
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

// stampEpoch is the origin of stampConn's times (monotonic).
var stampEpoch = time.Now()

// stampConn is a connection of the default client that remembers when a read
// from the network last returned data. A chunk is stamped with that read, not
// with the later read of the response body that handed it over: bytes the
// transport read at once arrived at once, however the body's readers split them
// (a stream's buffers are small), so a busy client never spreads them apart.
type stampConn struct {
	net.Conn
	at atomic.Int64 // the latest read that returned data, ns since stampEpoch
}

func (c *stampConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.at.Store(int64(time.Since(stampEpoch)))
	}
	return n, err
}

// lastRead is the time of the latest read that returned data; false before any.
func (c *stampConn) lastRead() (time.Time, bool) {
	ns := c.at.Load()
	return stampEpoch.Add(time.Duration(ns)), ns > 0
}

// connRead is the time of c's latest read that returned data, when c is known
// and that read came at since or later; else now.
func connRead(c *stampConn, since time.Time) time.Time {
	if c != nil {
		if at, ok := c.lastRead(); ok && !at.Before(since) {
			return at
		}
	}
	return time.Now()
}

// stampDial wraps a transport's dialer so that its connections are stampConns.
func stampDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &stampConn{Conn: c}, nil
	}
}
