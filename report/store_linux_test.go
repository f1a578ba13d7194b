//go:build linux

package report

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon/schema"
)

// TestRealDiskFull writes records to a 64 KiB tmpfs until the disk is full. It
// needs the right to mount (root); without it the test is skipped, and
// TestDiskFull's fake disk covers the same ground.
func TestRealDiskFull(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	s := &Store{Dir: dir}
	var saved []*schema.Result
	var err error
	for i := 0; i < 1000; i++ {
		res := runResult(fmt.Sprintf("run%03d", i), t0.Add(time.Duration(i)*time.Minute), schema.StatusRunning, 4)
		if err = s.Save(res); err != nil {
			break
		}
		res.Status = schema.StatusComplete
		if err = s.Finish(res); err != nil {
			break
		}
		saved = append(saved, res)
	}
	if err == nil {
		t.Fatal("1000 records fitted in 64 KiB")
	}
	if !strings.HasPrefix(err.Error(), "cannot write record: ") || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("err = %q, want \"cannot write record: ...\" wrapping ENOSPC", err)
	}
	t.Logf("disk full after %d records: %v", len(saved), err)
	if len(saved) == 0 {
		t.Fatal("not even one record fitted")
	}
	checkDisk(t, dir)
	for _, want := range saved {
		got, err := s.Load(want.RunID)
		if err != nil {
			t.Errorf("Load(%s) after the disk filled: %v", want.RunID, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("record %s damaged (-want +got):\n%s", want.RunID, diff)
		}
	}
	lines, err := s.Chronicle()
	if err != nil {
		t.Fatal(err)
	}
	// Every finished run has all its lines; a run whose Finish failed has none.
	if want := len(saved) * 4; len(lines) != want {
		t.Errorf("chronicle has %d lines, want %d (4 per finished run)", len(lines), want)
	}
}
