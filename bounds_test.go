package typhon_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/typhonbench/typhon"
)

// TestHugeModelIDRefused (issue 14, defect 10): a server whose model id is
// 900 KB does not get it into a record: the run is refused with the reason and
// nothing is sent to it.
func TestHugeModelIDRefused(t *testing.T) {
	t.Parallel()
	id := "\x1b]0;x\x07" + strings.Repeat("m", 900<<10)
	chats := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/models" {
			_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []any{map[string]any{"id": id, "object": "model"}}})
			return
		}
		if strings.Contains(r.URL.Path, "chat") {
			chats++
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	dir := t.TempDir()
	res, err := (&typhon.Runner{URL: srv.URL, DataDir: dir}).Run(t.Context(), nil)
	if err == nil || !strings.Contains(err.Error(), "bytes long") {
		t.Fatalf("Run = %v, want the model id refused", err)
	}
	if len(err.Error()) > 1024 || len(res.Model) > typhon.MaxModelBytes {
		t.Errorf("error of %d bytes, model of %d bytes: want both bounded", len(err.Error()), len(res.Model))
	}
	if chats != 0 {
		t.Errorf("%d chat requests sent", chats)
	}
}
