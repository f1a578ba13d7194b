package typhon

import (
	"sync"

	"github.com/typhonbench/typhon/engine"
)

// Progress reports where a run is. Total is set once the plan is built, before
// the first inference; CurrentTest names the test running now; Done counts the
// tests finished.
type Progress struct {
	Done        int    `json:"done"`
	Total       int    `json:"total"`
	CurrentTest string `json:"current_test"`
}

// ended is the progress of a finished run that kept done tests: nothing is
// running any more.
func (p Progress) ended(done int) Progress {
	return Progress{Done: done, Total: p.Total}
}

// tracker is the one place a run's progress moves: it sends each step to a
// caller's channel without blocking (nil is allowed) and never closes it. Its
// send is safe for concurrent use (a long test's watch sends from its own
// goroutine).
type tracker struct {
	ch    chan<- Progress
	tests []engine.Test

	mu   sync.Mutex
	last Progress
}

func (t *tracker) send(p Progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = p
	if t.ch == nil {
		return
	}
	select {
	case t.ch <- p:
	default:
	}
}

func (t *tracker) detecting() { t.send(Progress{CurrentTest: "detecting server"}) }

// planned: Total is known, the first test is next.
func (t *tracker) planned(plan engine.Plan) {
	t.tests = plan.Tests
	t.send(Progress{Total: len(t.tests), CurrentTest: t.name(0)})
}

// starting: test i runs now.
func (t *tracker) starting(i int) { t.send(t.at(i)) }

// at is the progress while test i runs.
func (t *tracker) at(i int) Progress {
	return Progress{Done: i, Total: len(t.tests), CurrentTest: t.name(i)}
}

// finished: test i is done, the next one (if any) comes.
func (t *tracker) finished(i int) {
	t.send(Progress{Done: i + 1, Total: len(t.tests), CurrentTest: t.name(i + 1)})
}

// ended: the run is over with done tests recorded.
func (t *tracker) ended(done int) {
	t.mu.Lock()
	last := t.last
	t.mu.Unlock()
	t.send(last.ended(done))
}

func (t *tracker) name(i int) string {
	if i < len(t.tests) {
		return t.tests[i].Name
	}
	return ""
}
