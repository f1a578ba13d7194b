package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/typhonbench/typhon"
)

// openAPIDoc is the part of the OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI  string                `json:"openapi"`
	Security []map[string][]string `json:"security"`
	Paths    map[string]map[string]struct {
		OperationID string                 `json:"operationId"`
		Security    *[]map[string][]string `json:"security"`
		Parameters  []struct {
			Ref  string `json:"$ref"`
			Name string `json:"name"`
			In   string `json:"in"`
		} `json:"parameters"`
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"paths"`
	Components struct {
		Parameters map[string]struct {
			Name string `json:"name"`
			In   string `json:"in"`
		} `json:"parameters"`
		Responses map[string]json.RawMessage `json:"responses"`
		Schemas   map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

// TestOpenAPIMatchesRoutes checks the document served at /openapi.json against
// the real handler's route table: every route and method is documented, nothing
// is documented that is not served, path parameters and public routes agree, and
// every $ref resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	a := newAPI(&typhon.Manager{Runner: typhon.Runner{DataDir: t.TempDir()}}, "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(a)
	defer ts.Close()

	code, body, hdr := doRaw(t, "GET", ts.URL+"/openapi.json", "", nil)
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: status %d, Content-Type %q", code, hdr.Get("Content-Type"))
	}
	onDisk, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != string(onDisk) {
		t.Errorf("served document differs from openapi.json")
	}
	var doc openAPIDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}

	type op struct{ Path, Method string }
	var served, documented []op
	public := map[op]bool{}
	for _, rt := range a.routes {
		for m := range rt.methods {
			o := op{rt.pattern, strings.ToLower(m)}
			served = append(served, o)
			public[o] = rt.public
		}
	}
	for path, ops := range doc.Paths {
		for m, o := range ops {
			key := op{path, m}
			documented = append(documented, key)
			// Public operations, and only they, waive the bearer token.
			waived := o.Security != nil && len(*o.Security) == 0
			if waived != public[key] {
				t.Errorf("%s %s: security waived = %v, route public = %v", m, path, waived, public[key])
			}
			if !waived {
				if _, ok := o.Responses["401"]; !ok {
					t.Errorf("%s %s: no 401 answer documented", m, path)
				}
			}
			for _, want := range []string{"405", "413", "500"} {
				if _, ok := o.Responses[want]; !ok {
					t.Errorf("%s %s: no %s answer documented", m, path, want)
				}
			}
			// Path parameters: those of the pattern, documented "in: path".
			var inPath []string
			for _, p := range o.Parameters {
				if p.Ref != "" {
					name := strings.TrimPrefix(p.Ref, "#/components/parameters/")
					c, ok := doc.Components.Parameters[name]
					if !ok {
						t.Errorf("%s %s: parameter %s does not resolve", m, path, p.Ref)
					}
					p.Name, p.In = c.Name, c.In
				}
				if p.In == "path" {
					inPath = append(inPath, p.Name)
				}
			}
			var want []string
			for _, seg := range strings.Split(path, "/") {
				if strings.HasPrefix(seg, "{") {
					want = append(want, strings.Trim(seg, "{}"))
				}
			}
			if diff := cmp.Diff(want, inPath); diff != "" {
				t.Errorf("%s %s: path parameters (-pattern +documented):\n%s", m, path, diff)
			}
		}
	}
	cmpOp := func(a, b op) int { return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method) }
	slices.SortFunc(served, cmpOp)
	slices.SortFunc(documented, cmpOp)
	if diff := cmp.Diff(served, documented); diff != "" {
		t.Errorf("routes (-served +documented):\n%s", diff)
	}

	// Every reference in the document resolves.
	var refs []string
	collectRefs(t, body, &refs)
	for _, ref := range refs {
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		var ok bool
		if len(parts) == 2 {
			switch parts[0] {
			case "schemas":
				_, ok = doc.Components.Schemas[parts[1]]
			case "responses":
				_, ok = doc.Components.Responses[parts[1]]
			case "parameters":
				_, ok = doc.Components.Parameters[parts[1]]
			}
		}
		if !ok {
			t.Errorf("$ref %q does not resolve", ref)
		}
	}
	if len(refs) == 0 {
		t.Error("no $ref found: the walk is broken")
	}
}

func collectRefs(t *testing.T, b []byte, refs *[]string) {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					*refs = append(*refs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
}
