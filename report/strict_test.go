package report

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestDecodeStrictHostile: a record uploaded to a collector that says two
// things at once (a key given twice), or names an unknown mode or an unbounded
// model, is refused with ErrInvalidRecord and a reason; the golden record and
// harmless variants pass.
func TestDecodeStrictHostile(t *testing.T) {
	golden, err := os.ReadFile("testdata/result.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	g := string(golden)
	res, err := DecodeStrict(golden)
	if err != nil {
		t.Fatalf("golden record: %v", err)
	}
	replace := func(old, new string) string {
		t.Helper()
		if !strings.Contains(g, old) {
			t.Fatalf("golden record holds no %q", old)
		}
		return strings.Replace(g, old, new, 1)
	}
	mode := `"mode": "` + string(res.Mode) + `"`
	model := `"model": "` + res.Model + `"`
	tests := []struct {
		name, body, reason string // reason "" : accepted
	}{
		{"golden", g, ""}, // seven benchmarks with the same keys
		{"run id twice", "{\n  \"run_id\": \"other\"," + g[strings.Index(g, "{")+1:], "given twice"},
		{"status twice at the end", g[:strings.LastIndex(g, "}")] + `, "status": "failed"}`, "given twice"},
		{"nested key twice", replace(`"port": `, `"name": "evil", "port": `), "given twice"},
		{"mode upper case", replace(mode, `"mode": "QUICK"`), "mode"},
		{"mode with a space", replace(mode, `"mode": " quick"`), "mode"},
		{"mode empty", replace(mode, `"mode": ""`), "mode"},
		{"model of 9000 bytes", replace(model, `"model": "`+strings.Repeat(`x\u001b]0;pwn\u0007`, 1000)+`"`), "model"},
		{"model of 512 bytes", replace(model, `"model": "`+strings.Repeat("m", 512)+`"`), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeStrict([]byte(tc.body))
			switch {
			case tc.reason == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.reason != "" && (!errors.Is(err, ErrInvalidRecord) || !strings.Contains(err.Error(), tc.reason)):
				t.Errorf("err = %v, want ErrInvalidRecord naming %q", err, tc.reason)
			}
		})
	}
}
