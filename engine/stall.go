package engine

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// stallWatch ends a stream with errStall once no data came for stall. It holds
// one timer, armed when data first flows: each chunk only stores the time of
// the read that delivered it (an atomic store, no timer reset per chunk), and
// the timer, when it fires before the silence is long enough, sleeps again
// until the latest read plus stall.
type stallWatch struct {
	stall   time.Duration
	base    time.Time    // monotonic origin of last
	last    atomic.Int64 // the latest read that returned data, ns since base
	timer   atomic.Pointer[time.Timer]
	stopped atomic.Bool
	cancel  context.CancelCauseFunc
}

func newStallWatch(stall time.Duration, cancel context.CancelCauseFunc) *stallWatch {
	return &stallWatch{stall: stall, base: time.Now(), cancel: cancel}
}

// seen notes data read at at (a time.Now reading).
func (w *stallWatch) seen(at time.Time) {
	w.last.Store(int64(at.Sub(w.base)))
	if w.timer.Load() == nil {
		t := time.AfterFunc(time.Hour, w.check)
		t.Stop()
		w.timer.Store(t)
		t.Reset(w.stall)
	}
}

func (w *stallWatch) check() {
	if w.stopped.Load() {
		return
	}
	left := w.stall - (time.Since(w.base) - time.Duration(w.last.Load()))
	if left <= 0 {
		w.cancel(errStall)
		return
	}
	w.timer.Load().Reset(left)
}

// stop disarms the watch for good.
func (w *stallWatch) stop() {
	w.stopped.Store(true)
	if t := w.timer.Load(); t != nil {
		t.Stop()
	}
}

// stallText says how a stream stalled: no data for stall, or chunks that kept
// coming without a token since stall before the last of them.
func stallText(m *measurement, stall time.Duration, tokens int) string {
	if time.Since(m.lastEvent) < stall {
		return fmt.Sprintf("the stream stalled: chunks kept coming but no token for %s, after %d chunks (%d tokens)", stall, m.events, tokens)
	}
	return fmt.Sprintf("the stream stalled: no data for %s after %d chunks (%d tokens)", stall, m.events, tokens)
}

// noEventText says that no chunk came within the request deadline: after the
// headers nothing (a prefill longer than the deadline, or a stalled server), or
// bytes that never made a complete chunk (a trickle, or a body in no format
// Typhon reads).
func noEventText(m *measurement, timeout time.Duration) string {
	headers := m.headers.Sub(m.start).Seconds()
	if m.bodyBytes > 0 {
		return fmt.Sprintf("no token within the request deadline of %s (the response headers came after %.3f s, then %d bytes that made no complete chunk: a trickling or broken stream)",
			timeout, headers, m.bodyBytes)
	}
	return fmt.Sprintf("no token within the request deadline of %s (the response headers came after %.3f s, then nothing: a prefill longer than the deadline, or a stalled server)",
		timeout, headers)
}
