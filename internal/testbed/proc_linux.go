//go:build linux

package testbed

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

const supported = true

// setProcAttr puts the server in a process group of its own, so that it and its
// children can be signalled together, and stops it if this process dies (a test
// binary killed at its timeout). SIGTERM, not SIGKILL: Ollama then stops its
// runners, which SIGKILL would leave behind.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// waitExited blocks until child pid has exited, without reaping it: until it is
// reaped, neither its pid nor its process group id can be reused.
func waitExited(pid int) error {
	var info [128]byte // siginfo_t
	for {
		_, _, e := syscall.Syscall6(syscall.SYS_WAITID, 1 /* P_PID */, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}

// proc identifies a process across pid reuse.
type proc struct {
	pid   int
	start uint64 // start time in clock ticks after boot
}

// procStat is what this package reads from /proc/PID/stat.
type procStat struct {
	state byte
	ppid  int
	pgrp  int
	start uint64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces: parse after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return procStat{}, errors.New("malformed stat")
	}
	var st procStat
	st.state = f[0][0]
	st.ppid, _ = strconv.Atoi(f[1])
	st.pgrp, _ = strconv.Atoi(f[2])
	st.start, _ = strconv.ParseUint(f[19], 10, 64)
	return st, nil
}

// allProcs returns the stat of every process that could be read.
func allProcs() map[int]procStat {
	ents, _ := os.ReadDir("/proc")
	out := make(map[int]procStat, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil {
			out[pid] = st
		}
	}
	return out
}

// descendants returns the live descendants of pid.
func descendants(pid int) []proc {
	procs := allProcs()
	children := make(map[int][]int)
	for p, st := range procs {
		children[st.ppid] = append(children[st.ppid], p)
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, proc{pid: c, start: procs[c].start})
			queue = append(queue, c)
		}
	}
	return out
}

// isLive reports whether p still runs (zombies do not count: a child re-parented to
// an init that never reaps stays a zombie, and holds nothing).
func (p proc) isLive() bool {
	st, err := readStat(p.pid)
	return err == nil && st.start == p.start && st.state != 'Z' && st.state != 'X'
}

// alive returns the live members of process group pgid and the live victims.
func alive(pgid int, victims []proc) []proc {
	var out []proc
	seen := make(map[int]bool)
	for p, st := range allProcs() {
		if st.pgrp == pgid && st.state != 'Z' && st.state != 'X' {
			out = append(out, proc{pid: p, start: st.start})
			seen[p] = true
		}
	}
	for _, v := range victims {
		if !seen[v.pid] && v.isLive() {
			out = append(out, v)
		}
	}
	return out
}

// signalAll sends sig to process group pgid and to each live victim.
func signalAll(pgid int, victims []proc, sig syscall.Signal) {
	syscall.Kill(-pgid, sig)
	for _, v := range victims {
		if v.isLive() {
			syscall.Kill(v.pid, sig)
		}
	}
}

// listensOn reports whether process pid has a socket listening on 127.0.0.1:port,
// so that a server found on the port is known to be ours, not one that took the
// port first.
func listensOn(pid, port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return true // cannot tell: trust the answer
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == local && f[3] == "0A" { // 0A: LISTEN
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return false
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if link, err := os.Readlink(dir + "/" + fd.Name()); err == nil && inodes[link] {
			return true
		}
	}
	return false
}

// self identifies this process in the owner files of temporary directories.
func self() proc {
	st, _ := readStat(os.Getpid())
	return proc{pid: os.Getpid(), start: st.start}
}

// ownerFile names the file, in each temporary directory of a server, that says
// which process made it.
const ownerFile = ".typhon-owner"

// markOwner records this process as the owner of dir.
func markOwner(dir string) error {
	me := self()
	return os.WriteFile(dir+"/"+ownerFile, []byte(fmt.Sprintf("%d %d\n", me.pid, me.start)), 0o644)
}

// removeOrphans removes the directories matching pattern whose owner process is
// gone: what a test binary killed at its timeout could not clean up.
func removeOrphans(pattern string) {
	dirs, _ := filepath.Glob(pattern)
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/" + ownerFile)
		if err != nil {
			continue // not ours, or being made
		}
		var p proc
		if _, err := fmt.Sscanf(string(b), "%d %d", &p.pid, &p.start); err != nil {
			continue
		}
		if !p.isLive() {
			os.RemoveAll(d)
		}
	}
}
