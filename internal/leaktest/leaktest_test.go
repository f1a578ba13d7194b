package leaktest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

func parkedHere(stop <-chan struct{}) { <-stop }

// TestSettleAndMatching: a goroutine left running is reported with its stack
// until it ends. Not parallel: the goroutine count must be this test's.
func TestSettleAndMatching(t *testing.T) {
	before := runtime.NumGoroutine()
	stop := make(chan struct{})
	go parkedHere(stop)
	match := func(g string) bool { return strings.Contains(g, "leaktest.parkedHere") }
	if err := Settle(before, 50*time.Millisecond, nil); err == nil || !strings.Contains(err.Error(), "parkedHere") {
		t.Errorf("Settle() with a goroutine left = %v, want an error with its stack", err)
	}
	if err := Matching(50*time.Millisecond, match); err == nil || !strings.Contains(err.Error(), "1 goroutines") {
		t.Errorf("Matching() with a goroutine left = %v, want an error naming 1", err)
	}
	if err := Settle(before+1, time.Second, func() bool { return false }); err == nil {
		t.Error("Settle() while idle reports false = nil, want an error")
	}
	close(stop)
	if err := Settle(before, 5*time.Second, nil); err != nil {
		t.Errorf("Settle() after the goroutine ended: %v", err)
	}
	if err := Matching(5*time.Second, match); err != nil {
		t.Errorf("Matching() after the goroutine ended: %v", err)
	}
}
