package export

import (
	"bytes"
	"testing"
	"time"

	"github.com/typhonbench/typhon/schema"
)

// FuzzCheck: Check never panics on a hostile file, and a file it accepts
// stays valid when written again.
func FuzzCheck(f *testing.F) {
	good, _ := Build([]*schema.Result{record()}, []byte("fuzz-salt-fuzz-salt"), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	var buf bytes.Buffer
	_ = Write(&buf, good)
	f.Add(buf.Bytes())
	f.Add([]byte(`{"format":"typhon-community","format_version":1,"exported_on":"2026-12-01","runs":[]}`))
	f.Add([]byte(`{"format":"typhon-community","format_version":1,"exported_on":"2026-12-01","runs":[{"machine":"x"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Check(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Write(&out, file); err != nil {
			t.Fatal(err)
		}
		if _, err := Check(&out); err != nil {
			t.Fatalf("accepted file fails once written again: %v\n%s", err, out.Bytes())
		}
	})
}
