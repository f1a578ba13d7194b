package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/typhonbench/typhon"
)

// TestJobNoServerSaysWhy: a job that found no LLM server ended with the
// contract's sentence alone ("No LLM server detected ..."): why the address
// was not an LLM server (here a proxy answering 502) was lost. The job now
// keeps the contract's error and carries the reason in error_detail.
func TestJobNoServerSaysWhy(t *testing.T) {
	t.Parallel()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(proxy.Close)
	mgr := &typhon.Manager{Runner: typhon.Runner{URL: proxy.URL, DataDir: t.TempDir()}}
	base := startAPI(t, mgr, "")
	id := submitAndWait(t, base)
	_, body, _ := doRaw(t, "GET", base+"/jobs/"+id, "", nil)
	var job struct {
		Status      string `json:"status"`
		Error       string `json:"error"`
		ErrorDetail string `json:"error_detail"`
	}
	if err := json.Unmarshal(body, &job); err != nil {
		t.Fatal(err)
	}
	if job.Status != "error" || job.Error != noServerMessage || !strings.Contains(job.ErrorDetail, "every path answered HTTP 502") {
		t.Fatalf("job %s; want error %q and the 502 in error_detail", body, noServerMessage)
	}
}
