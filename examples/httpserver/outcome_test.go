package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/typhonbench/typhon"
)

func TestJobOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		cancelled  bool
		wantStatus typhon.Status
		wantText   string
	}{
		{"completed", nil, false, typhon.StatusDone, ""},
		{"completed though Cancel came after the last test", nil, true, typhon.StatusDone, ""},
		{"no server keeps the contract's text", fmt.Errorf("scan: %w", typhon.ErrNoServer), false, typhon.StatusError,
			"No LLM server detected or benchmark produced no results."},
		{"cancelled by Cancel", fmt.Errorf("run: %w", context.Canceled), true, typhon.StatusError, "cancelled"},
		{"cancelled while detecting", fmt.Errorf("scan: %w", typhon.ErrNoServer), true, typhon.StatusError, "cancelled"},
		{"server shut down", fmt.Errorf("run: %w", context.Canceled), false, typhon.StatusError, "cancelled"},
		{"timeout", fmt.Errorf("run: %w", context.DeadlineExceeded), false, typhon.StatusError,
			"job timeout: run: context deadline exceeded"},
		{"other errors keep their text", fmt.Errorf("%w: baseline_short: http_400", typhon.ErrAllTestsFailed), false,
			typhon.StatusError, "every test failed: baseline_short: http_400"},
		{"plain error", errors.New("disk full"), false, typhon.StatusError, "disk full"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, text := jobOutcome(tc.err, tc.cancelled)
			if status != tc.wantStatus || text != tc.wantText {
				t.Errorf("jobOutcome() = %s %q, want %s %q", status, text, tc.wantStatus, tc.wantText)
			}
		})
	}
}
