package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/typhonbench/typhon/schema"
)

// WriteJSON writes res as indented JSON followed by a newline: the exact bytes of
// a record on disk. The output is stable: fields in declaration order, map keys
// sorted, no HTML escaping, two-space indent.
func WriteJSON(w io.Writer, res *schema.Result) error {
	if res == nil {
		return errors.New("report: nil result")
	}
	b, err := marshalRecord(res)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// marshalRecord is the bytes of WriteJSON. A zero SchemaVersion is written as the
// current schema.Version. res itself is not modified, except that a NaN or an
// infinity anywhere in it, which JSON cannot hold, is set to 0.
func marshalRecord(res *schema.Result) ([]byte, error) {
	r := *res
	if r.SchemaVersion == 0 {
		r.SchemaVersion = schema.Version
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&r); err != nil {
		var unsupported *json.UnsupportedValueError
		if !errors.As(err, &unsupported) || scrubFloats(reflect.ValueOf(res)) == 0 {
			return nil, fmt.Errorf("report: encode record %q: %w", res.RunID, err)
		}
		// A NaN or an infinity (which JSON cannot hold) was set to 0 in res:
		// the run is kept rather than lost.
		return marshalRecord(res)
	}
	return buf.Bytes(), nil
}

// ReadResult decodes one record (the JSON WriteJSON writes) from r. It also
// accepts a whole job object of the HTTP API ({"job_id": ..., "result": {...}})
// and returns its result. Unknown fields are ignored, so records of a newer
// schema version still read; anything that is not one JSON object describing a
// run is an error wrapping ErrInvalidRecord.
func ReadResult(r io.Reader) (*schema.Result, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("report: read record: %w", err)
	}
	return DecodeResult(b)
}

// DecodeResult is ReadResult over bytes.
func DecodeResult(b []byte) (*schema.Result, error) {
	var probe map[string]json.RawMessage
	if err := decodeOne(b, &probe); err != nil {
		return nil, fmt.Errorf("report: %w: %w", ErrInvalidRecord, err)
	}
	if probe == nil {
		return nil, fmt.Errorf("report: %w: null instead of an object", ErrInvalidRecord)
	}
	_, hasBench := probe["benchmarks"]
	_, hasRunAt := probe["run_at"]
	if inner, ok := probe["result"]; ok && !hasBench && !hasRunAt {
		// A job of the HTTP API: the record is its result.
		if bytes.Equal(bytes.TrimSpace(inner), []byte("null")) {
			msg := "the job has no result"
			var e string
			if raw, ok := probe["error"]; ok && json.Unmarshal(raw, &e) == nil && e != "" {
				msg += " (job error: " + e + ")"
			}
			return nil, fmt.Errorf("report: %w: %s", ErrInvalidRecord, msg)
		}
		b = inner
		probe = nil
		if err := json.Unmarshal(b, &probe); err != nil || probe == nil {
			return nil, fmt.Errorf("report: %w: job result is not an object", ErrInvalidRecord)
		}
		_, hasBench = probe["benchmarks"]
		_, hasRunAt = probe["run_at"]
	}
	if !hasBench && !hasRunAt {
		return nil, fmt.Errorf("report: %w: no run_at and no benchmarks: not a Typhon result", ErrInvalidRecord)
	}
	var res schema.Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("report: %w: %w", ErrInvalidRecord, err)
	}
	if res.SchemaVersion < 0 {
		return nil, fmt.Errorf("report: %w: schema_version %d", ErrInvalidRecord, res.SchemaVersion)
	}
	return &res, nil
}

// LoadFile reads the record in the named file (a record written by a Store, a
// file written with WriteJSON, or a saved job of the HTTP API). A file larger
// than MaxRecordBytes (or endless, as /dev/zero) wraps ErrInvalidRecord.
func LoadFile(name string) (*schema.Result, error) {
	b, err := osFS{}.ReadFileMax(name, MaxRecordBytes)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if len(b) > MaxRecordBytes {
		return nil, fmt.Errorf("%s: report: %w: larger than %d bytes", name, ErrInvalidRecord, MaxRecordBytes)
	}
	res, err := DecodeResult(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}

// decodeOne decodes exactly one JSON value from b into v.
func decodeOne(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty input")
		}
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}
