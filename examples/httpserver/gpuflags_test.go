package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestGPUFlags(t *testing.T) {
	t.Parallel()
	c, err := parseFlags([]string{"-data", t.TempDir(), "-gpu", "0", "-gpu", "2", "-server-pid", "4242"}, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(c.gpus, []int{0, 2}) || !cmp.Equal(c.serverPIDs, []int{4242}) {
		t.Errorf("-gpu 0 -gpu 2 -server-pid 4242: gpus %v, server PIDs %v", c.gpus, c.serverPIDs)
	}
	if _, err := parseFlags([]string{"-gpu", "x"}, &syncBuffer{}); err == nil {
		t.Errorf("-gpu x: no error")
	}
}
