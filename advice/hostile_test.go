package advice

import (
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/typhonbench/typhon/schema"
)

// secretsInText are identifying strings of kinds other than the test record's,
// each in the words a server, a driver or the system would use, with the part
// that must not reach the LLM.
var secretsInText = []struct{ text, secret string }{
	{"dial tcp [2001:db8::5]:8080: connect: connection refused", "2001:db8"},
	{"dial tcp [fe80::1ff:fe23:4567:890a%eth0]:11434: i/o timeout", "fe80::1ff"},
	{"listening on ::ffff:192.168.7.9", "192.168.7.9"},
	{"read tcp [::1]:51234->[::1]:8080: reset", "51234"},
	{"dial tcp: lookup gpu-box.corp.lan: no such host", "gpu-box"},
	{"Post \"https://llm.example.com/v1\": x509 error", "llm.example.com"},
	{"proxy at inference.internal refused", "inference.internal"},
	{"nvidia-smi: GPU-6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f fell off the bus", "6f1c2d3e"},
	{"GPU serial 1320219012345 has an ECC error", "1320219012345"},
	{"link 00:1a:2b:3c:4d:5e down", "3c:4d:5e"},
	{"GET /v1/models?api_key=sk-live-AbCdEf0123456789xyz failed", "AbCdEf0123456789"},
	{"401: Authorization: Bearer hf_QwErTyUiOpAsDfGhJkLzXcVbNm123456 invalid", "QwErTyUiOp"},
	{"token=ghp_AbCdEf0123456789AbCdEf0123456789 rejected", "ghp_AbCdEf"},
	{"cannot read /home/bob/", "bob"},
	{"cannot open C:\\Users\\carol\\models", "carol"},
	{"owned by dave@example.org", "dave"},
	{"HOME=/home/erin TYPHON_API_KEY=abc123secretvalue", "abc123secretvalue"},
	{"connect localhost:8080 failed", "8080"},
	{"dial tcp 127.1:8080: refused", "8080"},
	{"dial 0x7f.0.0.1:8080", "8080"},
	{"lookup ip6-localhost:8080", "8080"},
}

// TestSummaryHoldsNoIdentifyingText puts each string in every free text of a
// record that the summary carries; none reaches it.
func TestSummaryHoldsNoIdentifyingText(t *testing.T) {
	t.Parallel()
	fields := map[string]func(r *schema.Result, v string){
		"error":       func(r *schema.Result, v string) { r.Error = v },
		"model":       func(r *schema.Result, v string) { r.Model = v },
		"version":     func(r *schema.Result, v string) { r.Server.Version = v },
		"server name": func(r *schema.Result, v string) { r.Server.Name = v },
		"run error":   func(r *schema.Result, v string) { r.Benchmarks[2].Runs[0].Error = v },
		"gpu error":   func(r *schema.Result, v string) { r.GPUUnavailable = v },
		"skip reason": func(r *schema.Result, v string) { r.Benchmarks[2].SkipReason, r.Benchmarks[2].Skipped = v, true },
		"cpu": func(r *schema.Result, v string) {
			r.ProfileSnapshot = &schema.Profile{CPU: schema.CPUInfo{Model: v}}
		},
	}
	for name, set := range fields {
		for _, s := range secretsInText {
			res := record(t)
			set(res, s.text)
			sum, err := Summary(res, testKey)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(sum), s.secret) {
				t.Errorf("%s %q: the summary holds %q", name, s.text, s.secret)
			}
		}
	}
}

// TestSummaryKeepsOrdinaryText: what looks a little like a secret but is
// advice (a suggested command's settings, times, a CPU's clock, token counts)
// is kept.
func TestSummaryKeepsOrdinaryText(t *testing.T) {
	t.Parallel()
	res := record(t)
	res.Server.Kind, res.Server.Name = "ollama", "ollama"
	res.Error = "at 10:15:00 on Intel(R) Core(TM) i9-13900K CPU @ 3.00GHz, qwen2.5-coder:7b, max_tokens: 256, 8,192 tokens: 1 of 2 runs failed"
	sum, err := Summary(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{res.Error, "OLLAMA_CONTEXT_LENGTH=4096 ollama serve"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("the summary lost %q:\n%s", want, sum)
		}
	}
}

// TestSummaryHoldsNoLocalName: this machine's user name, home directory and
// run id (it holds the time and may carry a name given to the runner) stay
// out of the summary.
func TestSummaryHoldsNoLocalName(t *testing.T) {
	t.Parallel()
	u, err := user.Current()
	if err != nil {
		t.Skip(err)
	}
	home, _ := os.UserHomeDir()
	res := record(t)
	res.RunID = "nightly-" + u.Username + "-20261201T101500Z-1a2b3c4d"
	res.Error = "cannot write " + home + " (user " + u.Username + ")"
	res.Benchmarks[2].Runs[0].Error = "open " + filepath.Join(home, "x") + ": permission denied"
	sum, err := Summary(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{res.RunID, "1a2b3c4d", home, " " + u.Username + ")"} {
		if strings.Contains(string(sum), s) {
			t.Errorf("the summary holds %q:\n%s", s, sum)
		}
	}
}

// TestAskModelPathOnlyToItsServer: the run's model id may be a file path
// (llama-server names a model by its path); asking another server with the
// run's model sends the file's name, not the path with the user's home.
func TestAskModelPathOnlyToItsServer(t *testing.T) {
	t.Parallel()
	f := &fakeLLM{handle: stream("ok")}
	srv := httptest.NewServer(f)
	defer srv.Close()
	res := record(t)
	res.Model = "/home/alice/models/llama-8b.Q8_0.gguf"
	if _, err := Ask(t.Context(), res, Target{BaseURL: srv.URL}, nil); err != nil {
		t.Fatal(err)
	}
	res.Server.APIBase = srv.URL
	if _, err := Ask(t.Context(), res, Target{}, nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.bodies[0], "alice") || !strings.Contains(f.bodies[0], `"model":"llama-8b.Q8_0.gguf"`) {
		t.Errorf("another server was sent %.300s", f.bodies[0])
	}
	if !strings.Contains(f.bodies[1], `"model":"/home/alice/models/llama-8b.Q8_0.gguf"`) {
		t.Errorf("the run's own server was not asked for its model id: %.300s", f.bodies[1])
	}
}
