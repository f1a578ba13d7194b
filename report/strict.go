package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/typhonbench/typhon/schema"
)

// maxModelBytes bounds the model id of a record taken from outside, as a run
// bounds the id a server gives (typhon.MaxModelBytes).
const maxModelBytes = 512

// checkDuplicateKeys refuses a JSON text in which an object names a key twice:
// encoding/json keeps the last value, another reader may keep the first, so
// the record would say two things at once.
func checkDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	// One entry per open object or array: the keys seen (nil for an array)
	// and whether the next token of an object is a key.
	type level struct {
		keys  map[string]bool
		isKey bool
	}
	var stack []level
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // DecodeStrict's own decoding words syntax errors
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].keys != nil {
			if stack[top].isKey {
				if k, ok := tok.(string); ok {
					if stack[top].keys[k] {
						return fmt.Errorf("key %q given twice in one object", cutID(k))
					}
					stack[top].keys[k] = true
					stack[top].isKey = false
					continue
				}
			} else {
				stack[top].isKey = true
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, level{keys: map[string]bool{}, isKey: true})
		case json.Delim('['):
			stack = append(stack, level{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:top]
		}
	}
}

// validateNames checks the names of a record taken from outside: a known mode
// and a model id of bounded length in UTF-8.
func validateNames(res *schema.Result) error {
	switch res.Mode {
	case schema.ModeQuick, schema.ModeFull, schema.ModeZeus, schema.ModeLoad:
	default:
		return fmt.Errorf("mode %q: want quick, full, zeus or load", cutID(string(res.Mode)))
	}
	if len(res.Model) > maxModelBytes || !utf8.ValidString(res.Model) {
		return fmt.Errorf("model id of %d bytes: want at most %d bytes of UTF-8", len(res.Model), maxModelBytes)
	}
	return nil
}
