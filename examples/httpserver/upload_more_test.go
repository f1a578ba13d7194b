package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/typhonbench/typhon/report"
)

// TestUploadOneRecordPerWorker: uploads are idempotent by run and worker
// index, not only by run id: a second, different record of a worker already
// stored (a retried pod, a copy under another run id) is 409 and the run still
// merges; before, it was stored and `typhon merge RUN` failed on "worker 1
// twice". Twenty concurrent copies of one record store it once.
func TestUploadOneRecordPerWorker(t *testing.T) {
	t.Parallel()
	url, data := newCollector(t, "s3cret")
	post := func(b []byte) (int, string) {
		code, body, _ := doRaw(t, "POST", url+"/results", "s3cret", bytes.NewReader(b))
		return code, string(body)
	}
	rec := recordBytes(t, workerRecord(t, 1))
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Go(func() { codes[i], _ = post(rec) })
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Errorf("concurrent copy: status %d, want 201 once and 200", c)
		}
	}
	if created != 1 {
		t.Errorf("%d of 20 concurrent copies answered 201, want 1", created)
	}
	again := workerRecord(t, 1)
	again.RunID = "fleet-up-w1-retry"
	if code, body := post(recordBytes(t, again)); code != http.StatusConflict || !strings.Contains(body, "fleet-up-w1") {
		t.Errorf("worker 1 again under another run id: %d %s, want 409 naming the stored record", code, body)
	}
	for _, i := range []int{0, 2} {
		if code, body := post(recordBytes(t, workerRecord(t, i))); code != http.StatusCreated {
			t.Errorf("worker %d: %d %s, want 201", i, code, body)
		}
	}
	recs, err := (&report.Store{Dir: data}).WorkerRecords("fleet-up")
	if err != nil || len(recs) != 3 {
		t.Fatalf("worker records: %d (%v), want 3", len(recs), err)
	}
	if _, err := report.Merge(recs); err != nil {
		t.Errorf("merge after the refused copy: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(data, report.RunsDir))
	if len(entries) != 3 {
		t.Errorf("%d files in runs/, want the 3 records", len(entries))
	}
}

// TestUploadInconsistentFigures: records that are valid JSON of the schema but
// whose figures their own samples cannot have made are 400.
func TestUploadInconsistentFigures(t *testing.T) {
	t.Parallel()
	url, data := newCollector(t, "s3cret")
	for _, c := range []struct {
		name   string
		change func(b []byte) []byte
	}{
		{"output_tps 1e20", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"output_tps": 9.6`), []byte(`"output_tps": 1e20`), 1)
		}},
		{"negative request_throughput", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"request_throughput": 0.3`), []byte(`"request_throughput": -0.3`), 1)
		}},
		{"index beyond count", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"index": 1`), []byte(`"index": 7`), 1)
		}},
		{"run name with a path", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"run": "fleet-up"`), []byte(`"run": "../fleet-up"`), 1)
		}},
		{"the run's name as run id", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"run_id": "fleet-up-w1"`), []byte(`"run_id": "fleet-up"`), 1)
		}},
		{"a share beyond the worker's", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"total_users": 12`), []byte(`"total_users": 30`), 1)
		}},
	} {
		b := recordBytes(t, workerRecord(t, 1))
		bad := c.change(b)
		if bytes.Equal(b, bad) {
			t.Fatalf("%s: the record has no such text", c.name)
		}
		code, body, _ := doRaw(t, "POST", url+"/results", "s3cret", bytes.NewReader(bad))
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", c.name, code, body)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(data, report.RunsDir)); len(entries) != 0 {
		t.Errorf("%d files stored, want none", len(entries))
	}
}
