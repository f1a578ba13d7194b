package main

import (
	"strings"
	"testing"
	"time"
)

// TestServeURLPasswordNotLogged: -url with a user and password was written
// whole into the startup log line; the password is now hidden there, and a
// job on that URL fails without quoting it.
func TestServeURLPasswordNotLogged(t *testing.T) {
	logs := &syncBuffer{}
	base := serveConfig(t, config{addr: freeAddr(t), data: t.TempDir(), url: "http://user:s3cret@127.0.0.1:1",
		queue: 1, jobTimeout: time.Minute}, logs)
	id := submitAndWait(t, base)
	_, job, _ := doRaw(t, "GET", base+"/jobs/"+id, "", nil)
	if strings.Contains(logs.String(), "s3cret") || !strings.Contains(logs.String(), "user:xxxxx@") {
		t.Fatalf("log holds the password or no URL:\n%s", logs.String())
	}
	if strings.Contains(string(job), "s3cret") {
		t.Fatalf("job holds the password: %s", job)
	}
}
