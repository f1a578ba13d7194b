//go:build !linux

package testbed

import (
	"errors"
	"os/exec"
	"syscall"
)

// The test bed runs Linux binaries through chroot; elsewhere Start reports
// ErrNotProvisioned before any of these is called.
const supported = false

type proc struct{ pid int }

func setProcAttr(*exec.Cmd)                 {}
func waitExited(int) error                  { return errors.New("unsupported") }
func descendants(int) []proc                { return nil }
func alive(int, []proc) []proc              { return nil }
func signalAll(int, []proc, syscall.Signal) {}
func listensOn(int, int) bool               { return true }
func markOwner(string) error                { return nil }
func removeOrphans(string)                  {}
