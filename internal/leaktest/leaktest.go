// Package leaktest checks, in tests, that code left no goroutine behind. Its
// functions return errors, so the caller picks t.Error or t.Fatal.
package leaktest

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// Settle waits up to within for the number of goroutines to come back to at
// most before (runtime.NumGoroutine taken before the code ran) and for idle,
// when not nil, to report true. Otherwise it returns an error with every
// goroutine's stack.
func Settle(before int, within time.Duration, idle func() bool) error {
	settled := func() bool { return runtime.NumGoroutine() <= before && (idle == nil || idle()) }
	for deadline := time.Now().Add(within); !settled() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before || (idle != nil && !idle()) {
		return fmt.Errorf("%d goroutines, %d before:\n%s", n, before, stacks())
	}
	return nil
}

// Matching waits up to within for the goroutines whose stack match selects to
// end, and returns an error with their stacks otherwise. It suits code whose
// goroutines can be told by name among others that come and go (servers of a
// test bed, say).
func Matching(within time.Duration, match func(stack string) bool) error {
	var left []string
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		left = left[:0]
		for _, g := range strings.Split(stacks(), "\n\n") {
			if match(g) {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("%d goroutines still running:\n%s", len(left), strings.Join(left, "\n\n"))
	}
	return nil
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
