package report

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// TestListPage: a page prints as the map both binaries printed before (keys in
// sorted order), with [] for an empty page.
func TestListPage(t *testing.T) {
	t.Parallel()
	s := &Store{Dir: t.TempDir()}
	empty, err := s.ListPage(0, 20)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(empty)
	want, _ := json.Marshal(map[string]any{"results": []Summary{}, "total": 0, "offset": 0, "limit": 20})
	if string(b) != string(want) {
		t.Errorf("empty page = %s, want %s", b, want)
	}
	res := runResult("r1", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), schema.StatusComplete, 1)
	if err := s.Finish(res); err != nil {
		t.Fatal(err)
	}
	page, err := s.ListPage(0, 20)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(page)
	want, _ = json.Marshal(map[string]any{"results": page.Results, "total": 1, "offset": 0, "limit": 20})
	if string(b) != string(want) || len(page.Results) != 1 || page.Results[0].RunID != "r1" {
		t.Errorf("page = %s, want %s with r1", b, want)
	}
}
