package export

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/typhonbench/typhon/schema"
)

// The closed vocabularies of the format: a record's mode, status, server kind,
// test category, error kind and OS family are written only when they are one
// of these (an error kind may also be http_<status>), so that no free text of
// a record can travel in them.
var (
	modes    = set(schema.ModeQuick, schema.ModeFull, schema.ModeZeus, schema.ModeLoad)
	statuses = set(schema.StatusRunning, schema.StatusComplete, schema.StatusFailed, schema.StatusCancelled,
		schema.StatusInterrupted)
	kinds = set(schema.KindLlamaCpp, schema.KindOllama, schema.KindLMStudio, schema.KindVLLM, schema.KindTGWUI,
		schema.KindJan, schema.KindSGLang, schema.KindTGI, schema.KindKoboldCpp, schema.KindLlamafile,
		schema.KindLocalAI, schema.KindOpenAI)
	categories = set(schema.CategoryBaseline, schema.CategoryContextSweep, schema.CategoryStress,
		schema.CategoryMemoryWall, schema.CategoryConcurrency, schema.CategoryZeus, schema.CategoryLoad)
	errorKinds = set(schema.ErrKindConnectionRefused, schema.ErrKindTimeout, schema.ErrKindStreamBroken,
		schema.ErrKindCancelled, schema.ErrKindBadResponse)
	osFamilies = set("linux", "darwin", "windows", "freebsd", "openbsd", "netbsd", "dragonfly", "solaris",
		"illumos", "aix", "android", "ios", "plan9")

	httpKindRE = regexp.MustCompile(`^http_[1-5][0-9][0-9]$`)
	// testIDRE is the shape of a test id: lower-case words and numbers (load_rate_2.5) joined by '_'.
	testIDRE = regexp.MustCompile(`^[a-z][a-z0-9]*(?:_[a-z0-9]+(?:\.[0-9]+)?)*$`)
)

func set[S ~string](xs ...S) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[string(x)] = true
	}
	return m
}

// oneOf is s when it is in vocab, else "".
func oneOf(vocab map[string]bool, s string) string {
	s = strings.TrimSpace(s)
	if vocab[s] {
		return s
	}
	return ""
}

// errorKind is k when it is an error kind of the schema or http_<status>.
func errorKind(k string) string {
	if httpKindRE.MatchString(k) {
		return k
	}
	return oneOf(errorKinds, k)
}

// testID is id when it has the shape of a test id and names nothing the
// format forbids.
func testID(id string) string {
	if !testIDRE.MatchString(id) {
		return ""
	}
	return token(id)
}

// checkVocab says which field of r holds a value outside its vocabulary.
func (r *Run) checkVocab() string {
	switch {
	case r.Mode != "" && oneOf(modes, r.Mode) == "":
		return "mode"
	case r.Status != "" && oneOf(statuses, r.Status) == "":
		return "status"
	case r.Server.Kind != "" && oneOf(kinds, r.Server.Kind) == "":
		return "server.kind"
	case r.Hardware.OSFamily != "" && oneOf(osFamilies, r.Hardware.OSFamily) == "":
		return "hardware.os_family"
	}
	for i, b := range r.Benchmarks {
		if b.Category != "" && oneOf(categories, b.Category) == "" {
			return "benchmarks[" + strconv.Itoa(i) + "].category"
		}
		if b.TestID != "" && testID(b.TestID) == "" {
			return "benchmarks[" + strconv.Itoa(i) + "].test_id"
		}
		for _, k := range b.ErrorKinds {
			if errorKind(k) == "" {
				return "benchmarks[" + strconv.Itoa(i) + "].error_kinds"
			}
		}
	}
	return ""
}
